"""Redact secrets from untrusted text before it reaches an LLM.

The MCP server already redacts what it returns; this is the agent's own, independent second
pass (defence in depth: a different implementation catches what the first one misses, and the
agent may not import mcp_server). It errs on the side of redacting too much: a log line that
loses a harmless value costs little, a leaked credential in a third-party prompt costs a lot.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MASK = "[REDACTED]"

# Key names whose values are secrets, in `key=value`, `key: value` and JSON `"key": "value"`.
_SECRET_KEYS = (
    r"passw(?:or)?d|passphrase|pwd|secret(?:[_-]?key)?|client[_-]?secret|token|access[_-]?token"
    r"|refresh[_-]?token|auth[_-]?token|id[_-]?token|api[_-]?key|apikey|x-api-key|private[_-]?key"
    r"|access[_-]?key(?:[_-]?id)?|session[_-]?key|credentials?|aws_secret_access_key"
    r"|connection[_-]?string|dsn"
)

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # PEM blocks (private keys, certificates with keys): everything between the markers.
    (
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)",
            re.DOTALL,
        ),
        MASK,
    ),
    # Credentials inside URLs / connection strings: scheme://user:password@host
    (
        re.compile(r"(?P<pre>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)[^\s@/]+(?P<post>@)"),
        r"\g<pre>" + MASK + r"\g<post>",
    ),
    # Authorization headers: Bearer / Basic / Token schemes.
    (re.compile(r"(?i)\b(bearer|basic)\s+[^\s,;'\"]{4,}"), r"\1 " + MASK),
    # JSON-style "key": "value"
    (
        re.compile(r'(?i)(?P<k>"[^"]*(?:' + _SECRET_KEYS + r')[^"]*"\s*:\s*)"(?:[^"\\]|\\.)*"'),
        r'\g<k>"' + MASK + '"',
    ),
    # key=value and key: value (value up to whitespace, comma, semicolon, quote or ampersand)
    (
        re.compile(
            r"(?i)(?P<k>\b[\w.-]*(?:" + _SECRET_KEYS + r")[\w.-]*\s*[=:]\s*)"
            r"(?P<q>['\"]?)[^\s,;&'\"]+(?P=q)"
        ),
        r"\g<k>\g<q>" + MASK + r"\g<q>",
    ),
    # Well-known token shapes that appear without a key name.
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}"), MASK),  # JWT
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), MASK),  # AWS access key id
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}\b"), MASK),  # GitHub tokens
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b"), MASK),  # Slack tokens
    (re.compile(r"\bsk-[A-Za-z0-9_-]{16,}\b"), MASK),  # OpenAI / Anthropic style API keys
    (re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}\b"), MASK),  # GitLab personal tokens
)


def redact_text(text: str) -> str:
    """Return `text` with every secret-looking value replaced by MASK."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact(value: Any) -> Any:
    """Redact a JSON-like value: strings are scrubbed; mapping values under secret keys masked."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        # Kubernetes env entries: {"name": "DB_PASSWORD", "value": "..."}
        env_secret = isinstance(value.get("name"), str) and bool(
            _SECRET_KEY_NAME.fullmatch(value["name"])
        )
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = str(key)
            if env_secret and name == "value":
                out[name] = MASK
            elif (
                _SECRET_KEY_NAME.fullmatch(name)
                and isinstance(item, str | int | float)
                and not isinstance(item, bool)
            ):
                out[name] = MASK
            else:
                out[name] = redact(item)
        return out
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value


_SECRET_KEY_NAME = re.compile(r"(?i)[\w.-]*(?:" + _SECRET_KEYS + r")[\w.-]*")
