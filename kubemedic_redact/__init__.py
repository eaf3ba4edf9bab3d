"""The one redaction table of the product: what a secret looks like, and how it is masked.

Every room redacts with this table (the MCP server before a result, an audit record or a preview
leaves it; the agent before a prompt; `kubemedic record` before a scenario is written), so the
key names and value shapes never drift apart. It imports only the standard library, so that
`policies`-free rooms such as `mcp_server/` and `agent/` may both use it.

    redact_text("Authorization: Bearer eyJ...")      # one line or many (PEM blocks go whole)
    redact_lines(log_lines)                          # a log, as lines: multi-line secrets go whole
    redact_mapping({"env": [{"name": "DB_PASSWORD", "value": "x"}]})   # keys decide, values too
    redact_argv(["--api-key", "abc", "--port=80"])   # a flag's value in the next argument

Every pattern is linear-time (no nested quantifiers over the same characters), so redacting an
adversarial megabyte stays cheap, and each runs only when one of its lowercase gate words
occurs in the text, so ordinary log lines cost a few substring searches.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MASK",
    "RULES",
    "SECRET_KEYS",
    "is_secret_key",
    "lower_pattern",
    "redact_argv",
    "redact_lines",
    "redact_mapping",
    "redact_text",
]

MASK = "[REDACTED]"

# Key names whose value is a secret, in `key=value`, `key: value`, JSON `"key": "value"`,
# mapping keys and environment variable names. Matched anywhere inside a longer name
# (`DB_PASSWORD`, `x-api-key`, `AccountKey`, `SharedAccessSignature`).
SECRET_KEYS = (
    r"passw(?:or)?d|passphrase|pass(?=\"?\s*[=:])|pwd|secret|client[_-]?secret|token|"
    r"api[_-]?key|apikey|private[_-]?key|access[_-]?key|account[_-]?key|"
    r"credentials?|session[_-]?(?:id|token|key|secret)|sessionid|session(?=\"?\s*[=:])|"
    r"signature|authorization|set-cookie|cookie|dsn|connection[_-]?string|"
    r"auth(?=\"?\s*[=:])|[_\-]key(?=\"?\s*[=:])"
)

# Keys that name or point at a secret rather than hold one (`secretName: db-creds`,
# `tokenPath`, `token_type: Bearer`): a mapping keeps their values (still value-scanned).
_REFERENCE_KEY = re.compile(
    r"(?i).*(?:name|names|ref|refs|path|file|type|kind|mode|count|ttl|seconds|expiry|"
    r"expiration|expiresat|expires_at|enabled|length)"
)
_SECRET_KEY = re.compile(r"(?i)[\w.\-/]*(?:" + SECRET_KEYS + r")[\w.\-/]*|.+[_\-.]keys?")


def is_secret_key(name: str) -> bool:
    """Whether a key or variable name says its value is a secret (`DB_PASSWORD`, `STRIPE_KEY`:
    yes; `secretName`, `restart_count`, a reference's `key`: no)."""
    return bool(_SECRET_KEY.fullmatch(name)) and not _REFERENCE_KEY.fullmatch(name)


class _Groups:
    """A match's groups read from the original text (the match may have run on its lowercase)."""

    __slots__ = ("_match", "_text")

    def __init__(self, match: re.Match[str], text: str) -> None:
        self._match, self._text = match, text

    def group(self, index: int) -> str:
        start, end = self._match.span(index)
        return self._text[start:end] if start >= 0 else ""


Replacement = str | Callable[[_Groups], str]


@dataclass(frozen=True)
class Rule:
    """One row of the table: the pattern runs only when a gate word occurs in the lowercase."""

    name: str
    gate: tuple[str, ...]
    pattern: re.Pattern[str]
    replacement: Replacement


def _quote_like(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return f"{value[0]}{MASK}{value[0]}"
    return MASK


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
    "connection",
    "auth",
)
_PEM_BEGIN = r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"
_PEM_END = r"-----END [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"

RULES: tuple[Rule, ...] = (
    # PEM private keys, whole block (RSA, EC, OPENSSH, ENCRYPTED, PGP ... BLOCK); from the
    # header to the end of the text when the end marker was cut off.
    Rule(
        "pem_private_key",
        ("-----begin",),
        re.compile(_PEM_BEGIN + r".*?(?:" + _PEM_END + r"|\Z)", re.DOTALL),
        MASK,
    ),
    # An Authorization header's whole value is a credential, whatever its scheme.
    Rule(
        "authorization_header",
        ("authorization",),
        re.compile(r"(?i)\b((?:proxy-)?authorization\"?\s*[=:]\s*\"?)[^\r\n\"]{1,4096}"),
        lambda m: f"{m.group(1)}{MASK}",
    ),
    # Cookies: the whole header value (several name=value pairs).
    Rule(
        "cookie_header",
        ("cookie",),
        re.compile(r"(?i)\b((?:set-)?cookie\"?\s*:\s*\"?)[^\r\n\"]{1,4096}"),
        lambda m: f"{m.group(1)}{MASK}",
    ),
    # Bearer / Basic credentials elsewhere (a token has a digit or a symbol, a word has not).
    Rule(
        "bearer_basic",
        ("bearer", "basic"),
        re.compile(
            r"(?i)\b(bearer|basic)(\s+)(?=[A-Za-z]{0,64}[0-9+/=._~\-])[A-Za-z0-9._~+/=\-]{8,}"
        ),
        lambda m: f"{m.group(1)}{m.group(2)}{MASK}",
    ),
    # JWTs (header.payload[.signature]); the header always starts with base64url '{"'.
    Rule(
        "jwt",
        ("eyj",),
        re.compile(r"\beyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}(?:\.[A-Za-z0-9_\-]*)?"),
        MASK,
    ),
    # Credentials in URLs: scheme://user:password@host (connection strings, basic-auth URLs).
    Rule(
        "url_credentials",
        ("://",),
        re.compile(
            r"(?i)\b([a-z][a-z0-9+.\-]{0,20}://)([^\s:/@\"'<>]{0,256}):([^\s\"'<>]{1,512})@"
        ),
        lambda m: f"{m.group(1)}{m.group(2)}:{MASK}@",
    ),
    # Azure SAS tokens: the `sig=` query parameter is the signature.
    Rule(
        "azure_sas_signature",
        ("sig=",),
        re.compile(r"(?i)([?&;]sig=)[^&\s\"'<>;]{1,1024}"),
        lambda m: f"{m.group(1)}{MASK}",
    ),
    # Well-known key formats.
    Rule(
        "aws_access_key_id",
        ("akia", "asia", "agpa", "aida", "aroa", "anpa", "anva", "aipa"),
        re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b"),
        MASK,
    ),
    Rule(
        "openai_anthropic_key",
        ("sk-",),
        re.compile(r"\bsk-(?:proj-|ant-|live-|test-)?[A-Za-z0-9_\-]{16,}"),
        MASK,
    ),
    Rule(
        "github_token",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
        re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}"),
        MASK,
    ),
    Rule("github_pat", ("github_pat_",), re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"), MASK),
    Rule("slack_token", ("xox",), re.compile(r"\bxox[abposr]-[A-Za-z0-9\-]{10,}"), MASK),
    Rule("gitlab_token", ("glpat-",), re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}"), MASK),
    Rule("google_api_key", ("aiza",), re.compile(r"\bAIza[0-9A-Za-z_\-]{35}"), MASK),
    Rule(
        "stripe_key",
        ("_live_", "_test_"),
        re.compile(r"\b(?:sk|rk|pk|whsec)_(?:live|test)_[A-Za-z0-9]{16,}"),
        MASK,
    ),
    # JSON: "password": "value"  (escaped quotes inside the value are allowed). Also the
    # `"auth": "..."` of a docker config json and a GCP service account's `private_key_id`.
    Rule(
        "json_secret_key",
        _KEY_GATE,
        re.compile(
            r"(?i)(\"[A-Za-z0-9_.\-]{0,40}(?:" + SECRET_KEYS + r")[A-Za-z0-9_.\-]{0,40}\""
            r"\s*:\s*)(?!\"?\[REDACTED\])(\"(?:[^\"\\]|\\.){0,4096}\"|[^\s,}\]]{1,256})"
        ),
        lambda m: f"{m.group(1)}{_quote_like(m.group(2))}",
    ),
    # key=value and key: value (unquoted, single- or double-quoted values).
    Rule(
        "key_value",
        _KEY_GATE,
        re.compile(
            r"(?i)((?:" + SECRET_KEYS + r")[A-Za-z0-9_.\-]{0,40})"
            r"(\s*[=:]\s*)(?!\[REDACTED\])(\"[^\"\n]{0,4096}\"|'[^'\n]{0,4096}'|"
            r"[^\s,;&\"'}\]][^\s,;&\"'}\]\)]{0,4095})"
        ),
        lambda m: f"{m.group(1)}{m.group(2)}{_quote_like(m.group(3))}",
    ),
)


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
    index: re.compile(lower_pattern(rule.pattern.pattern), rule.pattern.flags & ~re.IGNORECASE)
    for index, rule in enumerate(RULES)
    if rule.pattern.flags & re.IGNORECASE
}

# A private key's tail whose BEGIN line was cut off (a log read with tailLines): the base64
# lines right before an orphan END marker.
_ORPHAN_END = re.compile(_PEM_END)
_PEM_BODY_LINE = re.compile(r"[A-Za-z0-9+/=]{16,}|Proc-Type:.*|DEK-Info:.*")
_PEM_LAST_LINE = re.compile(r"[A-Za-z0-9+/=]{1,}")


def _sub(pattern: re.Pattern[str], replacement: Replacement, text: str, haystack: str) -> str:
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


def _orphan_pem_tails(text: str) -> str:
    match = _ORPHAN_END.search(text)
    if match is None:
        return text
    lines = text[: match.start()].split("\n")
    # The END marker's own line may start with body characters (a key printed on one line).
    keep = len(lines) - 1
    if keep > 0 and _PEM_LAST_LINE.fullmatch(lines[keep - 1].strip()):
        keep -= 1  # the body's last line is often short
    while keep > 0 and _PEM_BODY_LINE.fullmatch(lines[keep - 1].strip()):
        keep -= 1
    head = "\n".join(lines[:keep]) + ("\n" if keep else "")
    return head + MASK + _orphan_pem_tails(text[match.end() :])


def _redact_once(text: str) -> str:
    lowered = text.lower()
    for index, rule in enumerate(RULES):
        if not any(word in lowered for word in rule.gate):
            continue
        folded = _FOLDED.get(index)
        if folded is not None and len(lowered) == len(text):
            replaced = _sub(folded, rule.replacement, text, lowered)
        else:  # lower() changed the length (e.g. "İ"): positions differ, match the original
            replaced = _sub(rule.pattern, rule.replacement, text, text)
        if replaced != text:
            text = replaced
            lowered = text.lower()
    if "-----end" in lowered:
        text = _orphan_pem_tails(text)
    return text


def redact_text(text: str) -> str:
    """`text` (one line or many) with every recognised secret replaced by MASK.

    Idempotent: the table is applied until nothing changes (a second pass finds nothing in
    all but contrived inputs, where a mask opened a new match)."""
    if not text:
        return text
    for _ in range(4):
        replaced = _redact_once(text)
        if replaced == text:
            break
        text = replaced
    return text


def redact_lines(lines: Iterable[str]) -> list[str]:
    """A log as lines, redacted as one text so a secret spread over lines (a PEM private key,
    a pretty-printed service-account JSON) is removed whole; a removed block becomes one line."""
    items = list(lines)
    if not items:
        return []
    return redact_text("\n".join(items)).split("\n")


def _flag_name(arg: str) -> str | None:
    if arg.startswith("-") and "=" not in arg:
        return arg.lstrip("-")
    return None


def redact_argv(argv: Iterable[Any]) -> list[str]:
    """Command-line arguments: each one scanned, and the argument after a secret-looking flag
    (`--password`, `--api-key`, `-token`) masked, as in `--api-key abc123`."""
    out: list[str] = []
    mask_next = False
    for raw in argv:
        arg = str(raw)
        if mask_next and not arg.startswith("-"):
            out.append(MASK)
            mask_next = False
            continue
        out.append(redact_text(arg))
        flag = _flag_name(arg)
        mask_next = flag is not None and is_secret_key(flag)
    return out


def redact_mapping(value: Any) -> Any:
    """A JSON-like value with secrets masked: a secret-looking key masks its scalar value
    (`password: x`), an entry named by a secret-looking `name`/`key` masks its `value` (Kubernetes
    env entries `{name: DB_PASSWORD, value: x}`), and every other string is scanned by
    `redact_text`. Containers under a secret-looking key are walked, not dropped."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        label = value.get("name", value.get("key"))
        named_secret = isinstance(label, str) and is_secret_key(label)
        out: dict[Any, Any] = {}
        for key, item in value.items():
            name = str(key)
            scalar = isinstance(item, str | int | float) and not isinstance(item, bool)
            if scalar and (
                (named_secret and name == "value") or (is_secret_key(name) and item != "")
            ):
                out[key] = MASK
            else:
                out[key] = redact_mapping(item)
        return out
    if isinstance(value, list | tuple):
        return [redact_mapping(item) for item in value]
    return value
