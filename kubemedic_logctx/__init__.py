"""Log context shared by every room: fields that ride along with each log record.

This package imports only the standard library so that `mcp_server/` and `agent/` (which may not
import `kubemedic`) can use it. The formatter in `kubemedic.logging_setup` reads these fields;
without it they are harmless.

    with log_context(incident_id="inc-42", target="default/web-1"):
        log.info("diagnosing")            # carries incident_id and target

    log.info("deleted", extra={"action": "delete_pod"})   # per-record fields work too
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any

__all__ = ["CONTEXT_FIELDS", "current_context", "log_context"]

# The fields an operator filters incident logs by; the formatter lifts these to the top level.
CONTEXT_FIELDS: tuple[str, ...] = ("incident_id", "thread_id", "cluster", "target", "action")

_EMPTY: Mapping[str, Any] = MappingProxyType({})
# One immutable mapping per context: asyncio tasks and threads each see their own copy.
_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "kubemedic_log_context", default=_EMPTY
)


def current_context() -> Mapping[str, Any]:
    """The fields bound in the current context (read-only)."""
    return _context.get()


@contextmanager
def log_context(**fields: Any) -> Iterator[Mapping[str, Any]]:
    """Bind fields for every record logged inside the block; nested blocks add and override.

    A field given as None is removed for the duration of the block.
    """
    merged = {**_context.get(), **fields}
    bound = MappingProxyType({k: v for k, v in merged.items() if v is not None})
    token = _context.set(bound)
    try:
        yield bound
    finally:
        _context.reset(token)
