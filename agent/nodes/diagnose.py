"""The diagnose node: `diagnose_pod` for the incident's pod, validated against the contract."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langgraph.runtime import Runtime
from pydantic import ValidationError

from agent.context import IncidentContext
from agent.nodes.common import incident_log, timeline
from agent.state import IncidentState
from agent.tools import DIAGNOSE_POD, ToolboxError, ToolCallError
from kubemedic_contract import DiagnosePodResult
from policies import Diagnosis, workload_key


async def diagnose(state: IncidentState, runtime: Runtime[IncidentContext]) -> dict[str, Any]:
    namespace, pod = state["namespace"], state["pod_name"]
    try:
        with incident_log(state):
            answer = await runtime.context.toolbox.typed(
                DIAGNOSE_POD, DiagnosePodResult, namespace=namespace, pod_name=pod
            )
        # The state stays JSON: the fields the server sent, as it sent them.
        result = answer.model_dump(mode="json", exclude_unset=True)
        parsed = Diagnosis.model_validate(result)
    except ToolCallError as failed:
        return _failed(state, failed)
    except (ToolboxError, ValidationError) as exc:
        return {
            "diagnosis": None,
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


def _failed(state: IncidentState, failed: ToolCallError) -> dict[str, Any]:
    """A failed diagnose_pod: a pod that is gone resolves the incident, anything else fails it."""
    namespace, pod = state["namespace"], state["pod_name"]
    if failed.code == "not_found":
        return {
            "diagnosis": failed.result(),
            "outcome": "resolved",
            "summary": f"pod {namespace}/{pod} is gone; nothing to heal",
            "timeline": timeline("diagnose", "target_gone", f"{namespace}/{pod}"),
        }
    message = failed.error.message
    return {
        "diagnosis": failed.result(),
        "outcome": "failed",
        "summary": f"diagnose_pod failed: {failed.code}: {message}",
        "timeline": timeline("diagnose", "error", f"{failed.code}: {message}"),
    }


def primary_issue(diagnosis: Mapping[str, Any]) -> str | None:
    """The most severe issue's type (the first of the most severe)."""
    issues = [i for i in diagnosis.get("issues") or [] if isinstance(i, Mapping)]
    for severity in ("critical", "warning", "info"):
        for issue in issues:
            if issue.get("severity") == severity and issue.get("type"):
                return str(issue["type"])
    return None
