"""The escalate node, after a verification that did not heal: once, re-diagnose the
workload's pod that is still unhealthy; a leak or nothing left to diagnose goes to a human."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langgraph.runtime import Runtime

from agent.context import IncidentContext
from agent.nodes.common import timeline
from agent.state import IncidentState
from agent.tools import LIST_UNHEALTHY_PODS, ToolCallError
from agent.workloads import entry_name, unhealthy_of_workload
from kubemedic_contract import ListUnhealthyResult, UnhealthyPodInfo

# What a new round of diagnose -> act starts without (the escalation's own pod is set).
_CLEARED = (
    "diagnosis",
    "llm",
    "rule_decision",
    "gate",
    "approval",
    "approval_id",
    "pending_approval",
    "action",
    "plan",
    "action_id",
)


async def escalate(state: IncidentState, runtime: Runtime[IncidentContext]) -> dict[str, Any]:
    namespace = state["namespace"]
    workload = state.get("workload")
    verification = state.get("verification") or {}
    if verification.get("leak"):
        # Raising the limit again would only delay the next OOM kill: a person must find
        # the leak. The raise stays (it buys time).
        described = leak_evidence(verification.get("memory") or {})
        return {
            "escalated": True,
            "outcome": "handed_to_human",
            "summary": f"{state.get('action')} on {workload} did not fix it: {described}: "
            "likely a memory leak; a human must look (the raised limit stays)",
            "timeline": timeline("escalate", "leak", described[:300]),
        }
    broken = await _still_unhealthy(runtime.context, namespace, workload)
    if not broken:
        return {
            "escalated": True,
            "outcome": "not_healed",
            "summary": f"{workload} was not stable after {state.get('action')}, and no "
            "unhealthy pod is left to diagnose: a human should look",
            "timeline": timeline("escalate", "nothing_to_diagnose"),
        }
    pod = entry_name(broken[0])
    return {
        "escalated": True,
        "pod_name": pod,
        **dict.fromkeys(_CLEARED),
        "timeline": timeline(
            "escalate", "escalating", f"{state.get('action')} did not heal; re-diagnosing {pod}"
        ),
    }


async def _still_unhealthy(
    context: IncidentContext, namespace: str, workload: str | None
) -> list[UnhealthyPodInfo]:
    """The workload's pods the server lists unhealthy (none when it cannot list them)."""
    try:
        listed = await context.toolbox.typed(
            LIST_UNHEALTHY_PODS, ListUnhealthyResult, namespace=namespace
        )
    except ToolCallError:
        return []
    return unhealthy_of_workload(listed, namespace, workload)


def leak_evidence(memory: Mapping[str, Any]) -> str:
    """The sampled trend that makes it a leak, in words."""
    found = memory.get("trend") or {}
    rate = float(found.get("rate_mib_per_minute") or 0.0)
    minutes = float(found.get("minutes_to_limit") or 0.0)
    usage = int(found.get("usage_bytes") or 0) / 2**20
    limit = int(found.get("limit_bytes") or 0) / 2**20
    return (
        f"memory of {memory.get('pod')} still growing ~{rate:.0f}Mi/min ({usage:.0f}Mi of "
        f"{limit:.0f}Mi); the new limit would be reached in ~{minutes:.0f} min"
    )
