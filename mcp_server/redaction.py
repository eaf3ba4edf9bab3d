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

_Sub = tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]

_PATTERNS: list[_Sub] = [
    # PEM private keys (whole block when complete; from the header to the end when cut off).
    (
        re.compile(
            r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]{0,40}PRIVATE "
            r"KEY-----|\Z)",
            re.DOTALL,
        ),
        REDACTED,
    ),
    # An Authorization header's whole value is a credential, whatever its scheme.
    (
        re.compile(r"(?i)\b((?:proxy-)?authorization\"?\s*[=:]\s*\"?)[^\r\n\"]{1,4096}"),
        lambda m: f"{m.group(1)}{REDACTED}",
    ),
    # Bearer / Basic credentials elsewhere (a token has a digit or a symbol, a word has not).
    (
        re.compile(
            r"(?i)\b(bearer|basic)(\s+)(?=[A-Za-z]{0,64}[0-9+/=._~\-])[A-Za-z0-9._~+/=\-]{8,}"
        ),
        lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}",
    ),
    # JWTs (header.payload[.signature]); the header always starts with base64url '{"'.
    (re.compile(r"\beyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}(?:\.[A-Za-z0-9_\-]*)?"), REDACTED),
    # Credentials in URLs: scheme://user:password@host (connection strings, basic-auth URLs).
    (
        re.compile(
            r"(?i)\b([a-z][a-z0-9+.\-]{1,20}://)([^\s:/@\"'<>]{0,256}):([^\s\"'<>]{1,512})@"
        ),
        lambda m: f"{m.group(1)}{m.group(2)}:{REDACTED}@",
    ),
    # Well-known key formats.
    (re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b"), REDACTED),
    (re.compile(r"\bsk-(?:proj-|ant-|live-|test-)?[A-Za-z0-9_\-]{16,}"), REDACTED),
    (re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}"), REDACTED),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"), REDACTED),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9\-]{10,}"), REDACTED),
    (re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}"), REDACTED),
    (re.compile(r"\bAIza[0-9A-Za-z_\-]{35}"), REDACTED),
    (re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"), REDACTED),
    # JSON: "password": "value"  (escaped quotes inside the value are allowed).
    (
        re.compile(
            r"(?i)(\"[A-Za-z0-9_.\-]{0,40}(?:" + _SECRET_KEYS + r")[A-Za-z0-9_.\-]{0,40}\""
            r"\s*:\s*)(?!\"?\[REDACTED\])(\"(?:[^\"\\]|\\.){0,4096}\"|[^\s,}\]]{1,256})"
        ),
        lambda m: f"{m.group(1)}{_quote_like(m.group(2))}",
    ),
    # key=value and key: value (unquoted, single- or double-quoted values).
    (
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


def redact(text: str) -> str:
    """Return `text` with every recognised secret replaced by [REDACTED]."""
    if not text:
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
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
