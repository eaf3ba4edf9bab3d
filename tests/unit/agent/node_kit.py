"""Run one node function alone: a Toolbox answering from a ScriptedCluster in process (no MCP
session), recording every call, and the LangGraph Runtime carrying an IncidentContext."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langgraph.runtime import Runtime

from agent.context import IncidentContext
from agent.tools import Toolbox
from policies import policy_from_dict
from tests.unit.agent.scripted import ScriptedCluster


class ScriptedToolbox(Toolbox):
    """The scripted server's tools as plain calls; `canned` answers (by tool name, in order)
    come before the cluster's."""

    def __init__(
        self, cluster: ScriptedCluster, canned: dict[str, list[dict[str, Any]]] | None = None
    ) -> None:
        super().__init__([])
        self.cluster = cluster
        self.canned = canned or {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.answers: dict[str, Callable[..., dict[str, Any]]] = {
            "diagnose_pod": lambda namespace, pod_name: cluster.diagnose(namespace, pod_name),
            "list_unhealthy_pods": lambda namespace=None: cluster.unhealthy_pods(namespace),
            "plan_healing": lambda namespace, pod_name, action=None: cluster.plan(
                namespace, pod_name, action
            ),
            "get_action_status": lambda action_id: cluster.status(action_id),
            "auto_heal_pod": cluster.execute,
        }

    def has(self, name: str) -> bool:
        return name in self.answers or name in self.canned

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    async def call(self, name: str, **arguments: Any) -> dict[str, Any]:
        self.calls.append((name, dict(arguments)))
        if self.canned.get(name):
            return self.canned[name].pop(0)
        args = {key: value for key, value in arguments.items() if value is not None}
        return self.answers[name](**args)


async def no_wait(seconds: float) -> None:
    return None


def runtime(toolbox: Toolbox, **context: Any) -> Runtime[IncidentContext]:
    """The Runtime a node is handed, its context with no waiting."""
    options: dict[str, Any] = {"policy": policy_from_dict({}), "sleep": no_wait}
    options.update(context)
    return Runtime(context=IncidentContext(toolbox=toolbox, **options))


def incident(pod: str, **values: Any) -> Any:
    """An incident state as the runner starts it, plus `values`."""
    state: dict[str, Any] = {
        "incident_id": "inc-1",
        "namespace": "default",
        "pod_name": pod,
        "workload": None,
        "history": [],
        "attempts": 0,
        "escalated": False,
        "rules_only": True,
        "outcome": None,
        "timeline": [],
    }
    state.update(values)
    return state
