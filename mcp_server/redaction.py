"""Redact secrets from text before it leaves the server (tool results, the audit, an LLM).

Logs and event messages are written by workloads we do not control: they leak bearer tokens,
passwords in connection strings, cloud keys. The patterns are the product's one redaction
table (`kubemedic_redact`), shared with the agent and `kubemedic record`; this module keeps the
server's names for it.
"""

from __future__ import annotations

from kubemedic_redact import MASK, lower_pattern, redact_mapping, redact_text

__all__ = ["REDACTED", "lower_pattern", "redact", "redact_mapping", "redact_obj"]

REDACTED = MASK


def redact(text: str) -> str:
    """Return `text` with every recognised secret replaced by [REDACTED]."""
    return redact_text(text)


def redact_obj(value: object) -> object:
    """Redact every string inside a JSON-like structure (dicts, lists, strings)."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact_obj(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_obj(v) for v in value]
    return value
