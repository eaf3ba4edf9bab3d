"""Label and field selectors, parsed as the API server parses labelSelector and fieldSelector."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubesim.api.errors import ApiError, bad_request

Obj = dict[str, Any]


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!", "gt", "lt"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "=":
            return present and value == self.values[0]
        if self.op == "!=":
            return not present or value != self.values[0]
        if self.op == "in":
            return present and value in self.values
        if self.op == "notin":
            return not present or value not in self.values
        if self.op == "exists":
            return present
        if self.op in ("gt", "lt"):
            number = _int64(value) if present else None
            if number is None:
                return False
            bound = int(self.values[0])
            return number > bound if self.op == "gt" else number < bound
        return not present  # "!"


def _int64(text: str | None) -> int | None:
    """strconv.ParseInt(text, 10, 64): an optional sign and decimal digits only."""
    if text is None or not re.fullmatch(r"[+-]?[0-9]+", text):
        return None
    number = int(text)
    return number if -(2**63) <= number < 2**63 else None


# -- labelSelector, parsed as k8s.io/apimachinery/pkg/labels.Parse does ---------------------
# Token kinds; "id" is an identifier, "end" the end of the text.
_SPECIAL = "=!(),><"
_WHITESPACE = " \t\r\n"
_SYMBOLS = {")", ",", "!", "==", "=", ">", "in", "<", "!=", "notin", "("}
_BINARY = "in, notin, =, ==, !=, gt, lt"
_OPERATORS = {"in": "in", "notin": "notin", "=": "=", "==": "=", "!=": "!=", ">": "gt", "<": "lt"}

_QNAME = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QNAME_RE = re.compile(f"^{_QNAME}$")
_VALUE_RE = re.compile(f"^({_QNAME})?$")
_DNS1123_SUBDOMAIN = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_SUBDOMAIN_RE = re.compile(f"^{_DNS1123_SUBDOMAIN}$")


def _regex_error(message: str, pattern: str, *examples: str) -> str:
    shown = "".join(("" if i == 0 else " or ") + f"'{e}', " for i, e in enumerate(examples))
    return f"{message} (e.g. {shown}regex used for validation is '{pattern}')"


_QNAME_MSG = _regex_error(
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
    "an alphanumeric character",
    _QNAME,
    "MyName",
    "my.name",
    "123-abc",
)
_VALUE_MSG = _regex_error(
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character",
    f"({_QNAME})?",
    "MyValue",
    "my_value",
    "12345",
)
_SUBDOMAIN_MSG = _regex_error(
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character",
    _DNS1123_SUBDOMAIN,
    "example.com",
)


def qualified_name_errors(key: str) -> list[str]:
    """validation.IsQualifiedName: a label key, `[prefix/]name`."""
    parts = key.split("/")
    errors: list[str] = []
    if len(parts) > 2:
        return [
            f"a qualified name {_QNAME_MSG} with an optional DNS subdomain prefix and '/' "
            "(e.g. 'example.com/MyName')"
        ]
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errors.append("prefix part must be non-empty")
        else:
            if len(prefix) > 253:
                errors.append("prefix part must be no more than 253 characters")
            if not _SUBDOMAIN_RE.match(prefix):
                errors.append(f"prefix part {_SUBDOMAIN_MSG}")
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > 63:
        errors.append("name part must be no more than 63 characters")
    if not _QNAME_RE.match(name):
        errors.append(f"name part {_QNAME_MSG}")
    return errors


def label_value_errors(value: str) -> list[str]:
    """validation.IsValidLabelValue."""
    errors: list[str] = []
    if len(value) > 63:
        errors.append("must be no more than 63 characters")
    if not _VALUE_RE.match(value):
        errors.append(_VALUE_MSG)
    return errors


class _SelectorSyntax(Exception):
    pass


def _lex(text: str) -> list[tuple[str, str]]:
    """The labels lexer: identifiers run to a special symbol or whitespace; symbols are the
    longest match among the operators."""
    tokens: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in _WHITESPACE:
            i += 1
        if i >= n:
            tokens.append(("end", ""))
            return tokens
        if text[i] in _SPECIAL:
            j, last = i, ""
            while j < n and text[j] in _SPECIAL:
                if text[i : j + 1] in _SYMBOLS:
                    last = text[i : j + 1]
                elif last:
                    break
                j += 1
            if not last:
                tokens.append(("error", f"error expected: keyword found '{text[i:j]}'"))
                i = j
                continue
            tokens.append((last, last))
            i += len(last)
            continue
        j = i
        while j < n and text[j] not in _SPECIAL and text[j] not in _WHITESPACE:
            j += 1
        word = text[i:j]
        tokens.append((word if word in _SYMBOLS else "id", word))
        i = j


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _lex(text)
        self.pos = 0

    def _peek(self, values: bool = True) -> tuple[str, str]:
        kind, lit = self.tokens[min(self.pos, len(self.tokens) - 1)]
        # "in" and "notin" are identifiers where values are expected.
        if values and kind in ("in", "notin"):
            kind = "id"
        return kind, lit

    def _next(self, values: bool = True) -> tuple[str, str]:
        token = self._peek(values)
        self.pos = min(self.pos + 1, len(self.tokens) - 1)
        return token

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            kind, lit = self._peek()
            if kind == "end":
                return reqs
            if kind not in ("id", "!"):
                raise _SelectorSyntax(f"found '{lit}', expected: !, identifier, or 'end of string'")
            try:
                reqs.append(self._requirement())
            except _SelectorSyntax as exc:
                raise _SelectorSyntax(f"unable to parse requirement: {exc}") from exc
            kind, lit = self._next()
            if kind == "end":
                return reqs
            if kind != ",":
                raise _SelectorSyntax(f"found '{lit}', expected: ',' or 'end of string'")
            kind, lit = self._peek()
            if kind not in ("id", "!"):
                raise _SelectorSyntax(f"found '{lit}', expected: identifier after ','")

    def _requirement(self) -> Requirement:
        op = ""
        kind, key = self._next()
        if kind == "!":
            op = "!"
            kind, key = self._next()
        if kind != "id":
            raise _SelectorSyntax(f"found '{key}', expected: identifier")
        if problems := qualified_name_errors(key):
            raise _SelectorSyntax(f'<nil>: Invalid value: "{key}": {"; ".join(problems)}')
        if self._peek()[0] in ("end", ","):
            op = op or "exists"
        if op:
            return Requirement(key, op)
        kind, lit = self._next(values=False)
        if kind not in _OPERATORS:
            raise _SelectorSyntax(f"found '{lit}', expected: {_BINARY}")
        op = _OPERATORS[kind]
        values = self._set() if op in ("in", "notin") else self._exact()
        return _requirement(key, op, values)

    def _exact(self) -> tuple[str, ...]:
        if self._peek()[0] in ("end", ","):
            return ("",)
        kind, lit = self._next()
        if kind != "id":
            raise _SelectorSyntax(f"found '{lit}', expected: identifier")
        return (lit,)

    def _set(self) -> tuple[str, ...]:
        kind, lit = self._next()
        if kind != "(":
            raise _SelectorSyntax(f"found '{lit}' expected: '('")
        kind, lit = self._peek()
        if kind == ")":
            self._next()
            return ("",)  # "()" is the set holding the empty value
        if kind not in ("id", ","):
            raise _SelectorSyntax(f"found '{lit}', expected: ',', ')' or identifier")
        values: list[str] = []
        while True:  # parseIdentifiersList, empty values included
            kind, lit = self._next()
            if kind == "id":
                values.append(lit)
                kind, lit = self._peek()
                if kind == ")":
                    break
                if kind != ",":
                    raise _SelectorSyntax(f"found '{lit}', expected: ',' or ')'")
            elif kind == ",":
                if not values:
                    values.append("")  # "(,"
                kind, _ = self._peek()
                if kind == ")":
                    values.append("")  # ",)"
                    break
                if kind == ",":
                    self._next()
                    values.append("")  # ",,"
            else:
                raise _SelectorSyntax(f"found '{lit}', expected: ',', or identifier")
        self._next()  # the ")" just seen
        return tuple(dict.fromkeys(values))  # a set; the order is kept for readability


def _requirement(key: str, op: str, values: tuple[str, ...]) -> Requirement:
    """labels.NewRequirement: its value checks, reported as an aggregate of field errors."""
    problems: list[str] = []
    if op in ("gt", "lt"):
        for i, value in enumerate(values):
            if _int64(value) is None:
                problems.append(
                    f'values[{i}]: Invalid value: "{value}": '
                    "for 'Gt', 'Lt' operators, the value must be an integer"
                )
    for i, value in enumerate(sorted(values)):
        if errors := label_value_errors(value):
            problems.append(f'values[{i}][{key}]: Invalid value: "{value}": {"; ".join(errors)}')
    if problems:
        raise _SelectorSyntax(problems[0] if len(problems) == 1 else f"[{', '.join(problems)}]")
    return Requirement(key, op, values)


def parse_label_selector(text: str | None) -> list[Requirement]:
    """The requirements of a `labelSelector` query parameter; 400 BadRequest with the real
    server's message when it does not parse."""
    if not text:
        return []
    try:
        return _Parser(text).parse()
    except _SelectorSyntax as exc:
        raise bad_request(str(exc)) from exc


def label_selector_from_dict(selector: dict[str, Any] | None) -> list[Requirement]:
    """A LabelSelector object (matchLabels / matchExpressions) as requirements."""
    if not selector:
        return []
    reqs = [Requirement(k, "=", (str(v),)) for k, v in (selector.get("matchLabels") or {}).items()]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expr in selector.get("matchExpressions") or []:
        reqs.append(
            Requirement(expr["key"], ops[expr["operator"]], tuple(expr.get("values") or ()))
        )
    return reqs


def matches_labels(reqs: list[Requirement], obj: Obj) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    return all(r.matches(labels) for r in reqs)


# Field selectors the real server supports per kind (plus metadata.name / metadata.namespace).
_FIELDS: dict[str, tuple[str, ...]] = {
    "Pod": (
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ),
    "Event": (
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
    "Namespace": ("status.phase",),
    "Node": ("spec.unschedulable",),
    "ReplicaSet": ("status.replicas",),
    "Secret": ("type",),
}


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts: list[str] = []
    depth = 0
    current = ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def _field_value(obj: Obj, path: str) -> str:
    if path == "source":
        return str((obj.get("source") or {}).get("component") or "")
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def parse_field_selector(text: str | None, kind: str) -> Callable[[Obj], bool]:
    if not text:
        return lambda _obj: True
    terms: list[tuple[str, bool, str]] = []
    allowed = ("metadata.name", "metadata.namespace", *_FIELDS.get(kind, ()))
    for part in _split_top(text):
        if "!=" in part:
            k, v = part.split("!=", 1)
            negate = True
        elif "==" in part:
            k, v = part.split("==", 1)
            negate = False
        elif "=" in part:
            k, v = part.split("=", 1)
            negate = False
        else:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        k = k.strip()
        if k not in allowed:
            raise ApiError(400, "BadRequest", f"field label not supported: {k}")
        terms.append((k, negate, v.strip()))

    def match(obj: Obj) -> bool:
        for key, negate, value in terms:
            equal = _field_value(obj, key) == value
            if equal == negate:
                return False
        return True

    return match
