"""Typed, forgiving access to Kubernetes objects as plain dicts (the API's JSON bodies).

Objects come from the API server, a recording, or a hand-written test: any field may be
missing or null, so every accessor returns a safe empty value instead of raising.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

Obj = Mapping[str, Any]


def m(obj: object, *keys: str) -> Obj:
    """The mapping at `obj[k1][k2]...`, or {} when any step is missing or not a mapping."""
    cur: object = obj
    for key in keys:
        if not isinstance(cur, Mapping):
            return {}
        cur = cur.get(key)
    return cur if isinstance(cur, Mapping) else {}


def lst(obj: object, *keys: str) -> list[Obj]:
    """The list of mappings at the path (non-mapping items dropped), or []."""
    *head, last = keys
    value = m(obj, *head).get(last)
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def s(obj: object, *keys: str) -> str | None:
    """The string at the path, or None."""
    *head, last = keys
    value = m(obj, *head).get(last)
    return value if isinstance(value, str) else None


def i(obj: object, *keys: str) -> int | None:
    """The integer at the path (bools excluded), or None."""
    *head, last = keys
    value = m(obj, *head).get(last)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def parse_time(value: object) -> datetime | None:
    """RFC 3339 (as the API writes it, also with fractional seconds) to an aware datetime."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Python 3.11 parses up to microseconds; the kubelet may write nanoseconds.
    if "." in text:
        head, _, rest = text.partition(".")
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = head + "." + rest[: min(digits, 6)].ljust(6, "0") + rest[digits:]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, marked when cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)] + "…"
