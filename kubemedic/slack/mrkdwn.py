"""Cluster text inside Slack messages: escaped and bounded.

Slack's mrkdwn treats `&`, `<` and `>` as control characters (`<!channel>`, `<@U123>`,
`<https://…|link>`); text from the cluster (pod names, log and event lines, an LLM's words)
is escaped so it can never mention people or hide a link. Block text is bounded to Slack's
limits (3000 characters for a section's text, 150 for a header).
"""

from __future__ import annotations

SECTION_LIMIT = 3000
HEADER_LIMIT = 150
FIELD_LIMIT = 2000
FALLBACK_LIMIT = 3000
_ELLIPSIS = "…"


def escape(text: object) -> str:
    """Slack's three control characters as entities (`&` first)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def bound(text: str, limit: int = SECTION_LIMIT) -> str:
    """At most `limit` characters, cut with an ellipsis and never inside an `&…;` entity."""
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - len(_ELLIPSIS))]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + _ELLIPSIS


def text(raw: object, limit: int = SECTION_LIMIT) -> str:
    """Untrusted text, escaped then bounded."""
    return bound(escape(raw), limit)


def plain(raw: object, limit: int = HEADER_LIMIT) -> str:
    """Text for a `plain_text` object: on one line, escaped too (Slack shows the entities as
    the characters there as well), bounded."""
    return bound(escape(" ".join(str(raw).split())), limit) or "-"


def code_block(lines: list[str], limit: int = SECTION_LIMIT) -> str:
    """Escaped lines in a ``` block: as many whole lines as fit in `limit`, then a count of
    the rest. One line never takes more than a sixth of the block."""
    fence = "```"
    budget = limit - 2 * len(fence) - 2 - 40  # room for the "… N more lines" note
    kept: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        escaped = bound(escape(line), limit // 6)
        if used + len(escaped) + 1 > budget:
            rest = len(lines) - index
            kept.append(f"… {rest} more line{'s' if rest != 1 else ''}")
            break
        kept.append(escaped)
        used += len(escaped) + 1
    return f"{fence}\n" + "\n".join(kept) + f"\n{fence}"
