"""Whatever the LLM proposes, the gate node's action is one the rules allow for that diagnosis,
for the incident's own pod; anything else is vetoed and counted."""

from __future__ import annotations

from typing import Any

import anyio
from hypothesis import given, settings
from hypothesis import strategies as st
from langgraph.runtime import Runtime
from prometheus_client import REGISTRY

from agent.context import IncidentContext
from agent.nodes.gate import gate
from agent.tools import Toolbox
from policies import (
    MILDNESS,
    Action,
    DecisionContext,
    Diagnosis,
    decide,
    parse_action,
    policy_from_dict,
)
from tests.unit.agent.scripted import ScriptedCluster, crashloop_diagnosis

POD = "web-5d8f7-abcde"
POLICY = policy_from_dict({})


class PlanningToolbox(Toolbox):
    """Answers plan_healing as the scripted server does, without a session per example (the
    property is about the gate node; the MCP path is covered by test_graph)."""

    def __init__(self, cluster: ScriptedCluster) -> None:
        super().__init__([])
        self.cluster = cluster

    async def call(self, name: str, **arguments: Any) -> dict[str, Any]:
        assert name == "plan_healing", name
        return self.cluster.plan(
            arguments["namespace"], arguments["pod_name"], arguments.get("action")
        )


DIAGNOSES = [
    crashloop_diagnosis(POD),
    crashloop_diagnosis(POD, restarts=2),
    crashloop_diagnosis(POD, began_with_rollout=True, previous_revision=1, previous_healthy=True),
]
actions = st.one_of(
    st.sampled_from([a.value for a in Action]),
    st.text(max_size=30),
    st.sampled_from(["DELETE_POD", " rollback_deployment ", "drop_namespace", "none;rm -rf"]),
)
targets = st.one_of(
    st.none(),
    st.just(f"default/{POD}"),
    st.just(POD),
    st.sampled_from(["kube-system/coredns-1", "default/other", f"kube-system/{POD}", "/"]),
    st.text(max_size=40),
)


def rationale(action: str, target: str | None, confidence: float) -> dict[str, Any]:
    return {
        "summary": "s",
        "suspected_cause": "c",
        "proposed_action": action,
        "target_pod": target,
        "confidence": confidence,
        "evidence": [],
    }


def vetoes() -> float:
    total = 0.0
    for metric in REGISTRY.collect():
        if metric.name == "kubemedic_llm_vetoes":
            total += sum(s.value for s in metric.samples if s.name.endswith("_total"))
    return total


@settings(max_examples=300, deadline=None)
@given(
    diagnosis=st.sampled_from(DIAGNOSES),
    action=actions,
    target=targets,
    confidence=st.floats(0, 1),
)
def test_the_llm_never_gets_more_than_the_rules_allow(
    diagnosis: dict[str, Any], action: str, target: str | None, confidence: float
) -> None:
    state: Any = {
        "incident_id": "inc",
        "namespace": "default",
        "pod_name": POD,
        "diagnosis": diagnosis,
        "llm": {"status": "ok", "rationale": rationale(action, target, confidence)},
        "history": [],
    }
    before = vetoes()
    context = IncidentContext(
        toolbox=PlanningToolbox(ScriptedCluster(diagnoses={POD: diagnosis})), policy=POLICY
    )
    update = anyio.run(gate, state, Runtime(context=context))
    rule = decide(Diagnosis.model_validate(diagnosis), DecisionContext(policy=POLICY))
    chosen = Action(update["gate"]["action"])
    assert chosen in rule.allowed_actions
    assert MILDNESS[chosen] <= MILDNESS[rule.action]
    assert update["gate"]["decision"]["pod"] == {"kind": "Pod", "namespace": "default", "name": POD}
    named = (target or "").strip()
    other_target = bool(named) and named not in (POD, f"default/{POD}")
    if other_target or parse_action(action) not in rule.allowed_actions:
        assert update["gate"]["vetoed"] is True
        assert chosen is rule.action
        assert vetoes() == before + 1
    else:
        assert update["gate"]["vetoed"] is False
