"""Redact secrets from untrusted text before it reaches an LLM.

The MCP server already redacts what it returns; this is the agent's own second pass over
everything a prompt carries (a result may come from a server we did not build). The patterns
are the product's one redaction table (`kubemedic_redact`), so the two passes can never drift
apart on which keys and token shapes are secrets. It errs on the side of redacting too much: a
log line that loses a harmless value costs little, a leaked credential in a third-party prompt
costs a lot.
"""

from __future__ import annotations

from typing import Any

from kubemedic_redact import MASK, redact_mapping, redact_text

__all__ = ["MASK", "redact", "redact_text"]


def redact(value: Any) -> Any:
    """Redact a JSON-like value: strings are scrubbed; values under secret keys masked (and
    Kubernetes env entries `{"name": "DB_PASSWORD", "value": ...}`)."""
    return redact_mapping(value)
