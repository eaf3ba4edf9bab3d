"""The diagnose node: `diagnose_pod` for the incident's pod, validated against the contract."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langgraph.runtime import Runtime
from pydantic import ValidationError

from agent.context import IncidentContext
from agent.nodes.common import error_message, incident_log, timeline
from agent.state import IncidentState
from agent.tools import DIAGNOSE_POD, error_code
from policies import Diagnosis, workload_key


async def diagnose(state: IncidentState, runtime: Runtime[IncidentContext]) -> dict[str, Any]:
    namespace, pod = state["namespace"], state["pod_name"]
    with incident_log(state):
        result = await runtime.context.toolbox.call(DIAGNOSE_POD, namespace=namespace, pod_name=pod)
    code = error_code(result)
    if code == "not_found":
        return {
            "diagnosis": result,
            "outcome": "resolved",
            "summary": f"pod {namespace}/{pod} is gone; nothing to heal",
            "timeline": timeline("diagnose", "target_gone", f"{namespace}/{pod}"),
        }
    if code is not None:
        message = error_message(result)
        return {
            "diagnosis": result,
            "outcome": "failed",
            "summary": f"diagnose_pod failed: {code}: {message}",
            "timeline": timeline("diagnose", "error", f"{code}: {message}"),
        }
    try:
        parsed = Diagnosis.model_validate(result)
    except ValidationError as exc:
        return {
            "diagnosis": result,
            "outcome": "failed",
            "summary": "the diagnosis does not fit the contract: " + str(exc)[:300],
            "timeline": timeline("diagnose", "error", "diagnosis does not validate"),
        }
    issue = primary_issue(result)
    workload = workload_key(parsed)
    update: dict[str, Any] = {
        "diagnosis": result,
        "issue_type": issue,
        "workload": workload,
        "timeline": timeline(
            "diagnose", "diagnosed", f"{issue or 'no issues'}; workload {workload}"
        ),
    }
    if not parsed.issues:
        update["outcome"] = "resolved"
        update["summary"] = f"pod {namespace}/{pod} shows no issues now"
    return update


def primary_issue(diagnosis: Mapping[str, Any]) -> str | None:
    """The most severe issue's type (the first of the most severe)."""
    issues = [i for i in diagnosis.get("issues") or [] if isinstance(i, Mapping)]
    for severity in ("critical", "warning", "info"):
        for issue in issues:
            if issue.get("severity") == severity and issue.get("type"):
                return str(issue["type"])
    return None
