"""Redact secrets from text before it leaves the server (tool results, the audit, an LLM).

Logs and event messages are written by workloads we do not control: they leak bearer tokens,
passwords in connection strings, cloud keys. Every pattern here is linear-time (no nested
quantifiers over the same characters), so redacting an adversarial megabyte stays cheap.
"""

from __future__ import annotations

import re
from collections.abc import Callable

REDACTED = "[REDACTED]"

# Keys whose value is a secret, in `key=value`, `key: value` and JSON `"key": "value"` shapes.
_SECRET_KEYS = (
    r"passw(?:or)?d|passphrase|pass(?=\s*[=:])|pwd|secret(?:[_-]?key)?|client[_-]?secret|token|access[_-]?token|"
    r"refresh[_-]?token|id[_-]?token|auth[_-]?token|api[_-]?key|apikey|x[_-]api[_-]key|"
    r"private[_-]?key|access[_-]?key(?:[_-]?id)?|secret[_-]?access[_-]?key|credentials?|"
    r"session[_-]?(?:id|token|key)|signature|authorization|cookie|dsn|auth(?=\s*[=:])"
)


class _Groups:
    """A match's groups read from the original text (the match may have run on its lowercase)."""

    __slots__ = ("_match", "_text")

    def __init__(self, match: re.Match[str], text: str) -> None:
        self._match, self._text = match, text

    def group(self, index: int) -> str:
        start, end = self._match.span(index)
        return self._text[start:end] if start >= 0 else ""


# (gate, pattern, replacement): the pattern runs only when one of the gate's lowercase
# substrings occurs in the text, so ordinary log lines cost a few substring searches.
_Rule = tuple[tuple[str, ...], re.Pattern[str], str | Callable[[_Groups], str]]

_KEY_GATE = (
    "pass",
    "pwd",
    "secret",
    "token",
    "key",
    "credential",
    "session",
    "signature",
    "authorization",
    "cookie",
    "dsn",
    "auth",
)

_RULES: list[_Rule] = [
    # PEM private keys (whole block when complete; from the header to the end when cut off).
    (
        ("-----begin",),
        re.compile(
            r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]{0,40}PRIVATE "
            r"KEY-----|\Z)",
            re.DOTALL,
        ),
        REDACTED,
    ),
    # An Authorization header's whole value is a credential, whatever its scheme.
    (
        ("authorization",),
        re.compile(r"(?i)\b((?:proxy-)?authorization\"?\s*[=:]\s*\"?)[^\r\n\"]{1,4096}"),
        lambda m: f"{m.group(1)}{REDACTED}",
    ),
    # Bearer / Basic credentials elsewhere (a token has a digit or a symbol, a word has not).
    (
        ("bearer", "basic"),
        re.compile(
            r"(?i)\b(bearer|basic)(\s+)(?=[A-Za-z]{0,64}[0-9+/=._~\-])[A-Za-z0-9._~+/=\-]{8,}"
        ),
        lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}",
    ),
    # JWTs (header.payload[.signature]); the header always starts with base64url '{"'.
    (
        ("eyj",),
        re.compile(r"\beyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}(?:\.[A-Za-z0-9_\-]*)?"),
        REDACTED,
    ),
    # Credentials in URLs: scheme://user:password@host (connection strings, basic-auth URLs).
    (
        ("://",),
        re.compile(
            r"(?i)\b([a-z][a-z0-9+.\-]{1,20}://)([^\s:/@\"'<>]{0,256}):([^\s\"'<>]{1,512})@"
        ),
        lambda m: f"{m.group(1)}{m.group(2)}:{REDACTED}@",
    ),
    # Well-known key formats.
    (
        ("akia", "asia", "agpa", "aida", "aroa", "anpa", "anva", "aipa"),
        re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b"),
        REDACTED,
    ),
    (("sk-",), re.compile(r"\bsk-(?:proj-|ant-|live-|test-)?[A-Za-z0-9_\-]{16,}"), REDACTED),
    (
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
        re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}"),
        REDACTED,
    ),
    (("github_pat_",), re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"), REDACTED),
    (("xox",), re.compile(r"\bxox[abposr]-[A-Za-z0-9\-]{10,}"), REDACTED),
    (("glpat-",), re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}"), REDACTED),
    (("aiza",), re.compile(r"\bAIza[0-9A-Za-z_\-]{35}"), REDACTED),
    (("_live_", "_test_"), re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"), REDACTED),
    # JSON: "password": "value"  (escaped quotes inside the value are allowed).
    (
        _KEY_GATE,
        re.compile(
            r"(?i)(\"[A-Za-z0-9_.\-]{0,40}(?:" + _SECRET_KEYS + r")[A-Za-z0-9_.\-]{0,40}\""
            r"\s*:\s*)(?!\"?\[REDACTED\])(\"(?:[^\"\\]|\\.){0,4096}\"|[^\s,}\]]{1,256})"
        ),
        lambda m: f"{m.group(1)}{_quote_like(m.group(2))}",
    ),
    # key=value and key: value (unquoted, single- or double-quoted values).
    (
        _KEY_GATE,
        re.compile(
            r"(?i)((?:" + _SECRET_KEYS + r")[A-Za-z0-9_.\-]{0,40})"
            r"(\s*[=:]\s*)(?!\[REDACTED\])(\"[^\"\n]{0,4096}\"|'[^'\n]{0,4096}'|[^\s,;&\"'}\]\)]{1,4096})"
        ),
        lambda m: f"{m.group(1)}{m.group(2)}{_quote_like(m.group(3))}",
    ),
]


def _quote_like(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return f"{value[0]}{REDACTED}{value[0]}"
    return REDACTED


def lower_pattern(source: str) -> str:
    """A regex source for lowercased text: literals lowered, escapes (\\S, \\W...) kept."""
    out: list[str] = []
    escaped = False
    for ch in source:
        out.append(ch if escaped else ch.lower())
        escaped = not escaped and ch == "\\"
    return "".join(out).replace("(?i)", "")


# Case-insensitive matching in Python's re is slow (about 20x): these rules run their
# lowercase twin over the lowercased text, whose positions match the original's.
_FOLDED: dict[int, re.Pattern[str]] = {
    index: re.compile(lower_pattern(pattern.pattern), pattern.flags & ~re.IGNORECASE)
    for index, (_, pattern, _) in enumerate(_RULES)
    if pattern.flags & re.IGNORECASE
}


def _sub(
    pattern: re.Pattern[str],
    replacement: str | Callable[[_Groups], str],
    text: str,
    haystack: str,
) -> str:
    pieces: list[str] = []
    last = 0
    for match in pattern.finditer(haystack):
        start, end = match.span()
        pieces.append(text[last:start])
        pieces.append(
            replacement if isinstance(replacement, str) else replacement(_Groups(match, text))
        )
        last = end
    if not pieces:
        return text
    pieces.append(text[last:])
    return "".join(pieces)


def redact(text: str) -> str:
    """Return `text` with every recognised secret replaced by [REDACTED]."""
    if not text:
        return text
    lowered = text.lower()
    for index, (gate, pattern, replacement) in enumerate(_RULES):
        if not any(word in lowered for word in gate):
            continue
        folded = _FOLDED.get(index)
        if folded is not None and len(lowered) == len(text):
            replaced = _sub(folded, replacement, text, lowered)
        else:  # lower() changed the length (e.g. "İ"): positions differ, match the original
            replaced = _sub(pattern, replacement, text, text)
        if replaced != text:
            text = replaced
            lowered = text.lower()
    return text


def redact_obj(value: object) -> object:
    """Redact every string inside a JSON-like structure (dicts, lists, strings)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_obj(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_obj(v) for v in value]
    return value
