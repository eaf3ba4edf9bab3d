"""What several nodes share: the timeline entry, the log context, error answers as outcomes,
and the audit and notification sinks (whose failures never stop an incident)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

from agent.context import IncidentContext
from agent.outcomes import outcome_of
from agent.state import IncidentState, TimelineEntry, entry
from agent.tools import error_code
from kubemedic_logctx import log_context

log = logging.getLogger(__name__)


def timeline(node: str, event: str, detail: str = "") -> list[TimelineEntry]:
    return [entry(node, event, detail)]


def incident_log(state: IncidentState) -> AbstractContextManager[Any]:
    """Log records inside carry the incident and its target."""
    return log_context(
        incident_id=state.get("incident_id"),
        thread_id=state.get("incident_id"),
        target=f"{state.get('namespace')}/{state.get('pod_name')}",
    )


def error_message(result: Mapping[str, Any]) -> str:
    error = result.get("error")
    return str(error.get("message", "")) if isinstance(error, Mapping) else ""


def refused(
    node: str, state: IncidentState, result: Mapping[str, Any], action: str
) -> dict[str, Any]:
    """An error answer as the incident's outcome, through the one table."""
    code = error_code(result) or "error"
    message = error_message(result)
    outcome = outcome_of(code)
    if code == "not_found":
        summary = f"pod {state['namespace']}/{state['pod_name']} is gone; nothing done"
    elif outcome == "blocked":
        summary = f"{action} not done: {code}: {message}"
    else:
        summary = f"{action} failed: {code}: {message}"
    return {
        "outcome": outcome,
        "summary": summary[:500],
        "timeline": timeline(node, code, message[:300]),
    }


async def notify(context: IncidentContext, event: dict[str, Any]) -> None:
    if context.notify is None:
        return
    try:
        await context.notify(event)
    except Exception:  # noqa: BLE001 - telling people must not break the incident
        log.exception("notification failed")


def audit(context: IncidentContext, record: dict[str, Any]) -> None:
    if context.audit is None:
        return
    try:
        context.audit(record)
    except Exception:  # noqa: BLE001 - an audit sink failure must not stop the incident
        log.exception("audit sink failed", extra={"audit_kind": record.get("kind")})
