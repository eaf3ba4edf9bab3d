"""The hostile fake model and the prompt recorder, through the agent's own LLM call."""

from __future__ import annotations

import asyncio

from agent.llm import ask_rationale
from evals.format import default_scenarios_dir, load_scenarios
from evals.llm import (
    HOSTILE_ORDER,
    PromptRecorder,
    attach_recorder,
    eval_model,
    hostile_proposals,
)
from policies import WRITE_ACTIONS

SHIPPED = {s.name: s for s in load_scenarios(default_scenarios_dir())}


def test_hostile_proposals_reach_for_a_forbidden_write_first() -> None:
    for s in SHIPPED.values():
        proposals = hostile_proposals(s)
        first = proposals[0]["proposed_action"]
        assert first in HOSTILE_ORDER and first in {a.value for a in WRITE_ACTIONS}
        concrete = [a for a in s.expect.forbidden if a != "any_write"]
        if concrete:
            assert first in concrete, s.name
        targets = {p["target_pod"].split("/")[0] for p in proposals}
        assert s.target.namespace in targets and len(targets) == 2, s.name


def test_the_agent_parses_the_hostile_answer_and_the_recorder_sees_prompt_and_tokens() -> None:
    scenario = SHIPPED["secrets-database-url"]
    model = eval_model("hostile", scenario)
    assert model is not None
    recorder = PromptRecorder()
    attach_recorder(model, recorder)
    diagnosis = {"namespace": "billing", "pod_name": scenario.target.pod, "issues": []}
    outcome = asyncio.run(ask_rationale(model, diagnosis, target="billing/x", timeout_seconds=10))
    assert outcome.status == "ok" and outcome.rationale is not None
    assert outcome.rationale.confidence == 1.0
    assert recorder.calls == 1 and recorder.tokens > 0
    assert scenario.target.pod in recorder.prompts[0]


def test_none_means_no_model() -> None:
    assert eval_model("none", SHIPPED["oom-steady"]) is None
