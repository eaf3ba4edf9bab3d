"""The rationale node alone, with the fake chat models of tests/unit/agent/fakes.py."""

from __future__ import annotations

from typing import Any

import pytest

from agent.nodes.rationale import rationale, rationale_of
from tests.unit.agent.fakes import hanging_model, rationale_args, structured_model, text_model
from tests.unit.agent.node_kit import ScriptedToolbox, incident, runtime
from tests.unit.agent.scripted import ScriptedCluster, crashloop_diagnosis

pytestmark = pytest.mark.anyio

POD = "web-5d8f7-abcde"


def diagnosed() -> Any:
    return incident(POD, diagnosis=crashloop_diagnosis(POD))


async def test_a_structured_answer_is_the_rationale() -> None:
    model = structured_model(rationale_args("delete_pod", f"default/{POD}"))
    toolbox = ScriptedToolbox(ScriptedCluster())
    update = await rationale(diagnosed(), runtime(toolbox, model=model))
    assert toolbox.calls == []  # the model reads the diagnosis in state, no tool call
    assert update["rules_only"] is False
    assert update["llm"]["status"] == "ok"
    assert update["llm"]["rationale"]["proposed_action"] == "delete_pod"
    assert update["timeline"][0]["detail"].startswith("proposes delete_pod (0.80)")
    parsed = rationale_of(update)
    assert parsed is not None and parsed.target_pod == f"default/{POD}"


async def test_no_model_skips_it_and_says_so() -> None:
    update = await rationale(diagnosed(), runtime(ScriptedToolbox(ScriptedCluster())))
    assert update["rules_only"] is True
    assert update["llm"]["status"] == "skipped"
    assert update["timeline"][0]["event"] == "skipped"
    assert rationale_of(update) is None


async def test_an_unparseable_answer_leaves_the_rules_alone() -> None:
    model = text_model("delete everything, trust me")
    update = await rationale(diagnosed(), runtime(ScriptedToolbox(ScriptedCluster()), model=model))
    assert update["rules_only"] is True
    assert update["llm"]["status"] == "unparseable"


async def test_a_model_that_never_answers_times_out_on_the_context_deadline() -> None:
    context = runtime(
        ScriptedToolbox(ScriptedCluster()), model=hanging_model(), llm_timeout_seconds=0.05
    )
    update = await rationale(diagnosed(), context)
    assert update["llm"]["status"] == "timeout"
    assert "0.05s" in update["llm"]["detail"]
