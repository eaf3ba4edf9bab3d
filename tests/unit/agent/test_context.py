"""The run context: frozen, built from settings in one place (WatchSettings carries every
setting of it), handed to runs by the runner and never checkpointed."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from agent.context import IncidentContext, setting_names
from agent.runner import IncidentRunner
from agent.tools import Toolbox
from agent.watch import WatchSettings
from policies import policy_from_dict
from tests.unit.agent.node_kit import ScriptedToolbox
from tests.unit.agent.scripted import ScriptedCluster

pytestmark = pytest.mark.anyio

POLICY = policy_from_dict({})


def test_it_is_frozen() -> None:
    context = IncidentContext(toolbox=Toolbox([]), policy=POLICY)
    with pytest.raises(dataclasses.FrozenInstanceError):
        context.verify_max_checks = 1  # type: ignore[misc]


def test_watch_settings_carry_every_setting_of_the_context_with_its_default() -> None:
    watch = {f.name: f for f in dataclasses.fields(WatchSettings)}
    context = {f.name: f for f in dataclasses.fields(IncidentContext)}
    assert setting_names() <= set(watch)
    for name in setting_names() - {"policy"}:
        assert watch[name].default == context[name].default, name


async def test_the_watch_context_takes_the_settings_and_bounds_the_writes() -> None:
    async def sleep(seconds: float) -> None:
        return None

    settings = WatchSettings(
        state_dir=Path("unused"),
        policy=POLICY,
        sleep=sleep,
        verify_max_checks=3,
        leak_horizon_minutes=12.0,
        leak_min_samples=5,
        max_concurrent=2,
        caller="someone",
    )
    toolbox = Toolbox([])
    context = settings.incident_context(toolbox)
    assert context.toolbox is toolbox
    for name in setting_names():
        assert getattr(context, name) == getattr(settings, name), name
    assert context.leak_horizon_minutes == 12.0 and context.leak_min_samples == 5
    await context.write_slots.acquire()
    await context.write_slots.acquire()
    assert context.write_slots.locked()


def test_overrides_win_over_the_settings() -> None:
    settings: Any = type("S", (), {"caller": "a", "verify_max_checks": 2, "unrelated": 1})()
    slots = asyncio.Semaphore(1)
    context = IncidentContext.of(
        Toolbox([]), settings, policy=POLICY, caller="b", write_slots=slots
    )
    assert (context.caller, context.verify_max_checks, context.write_slots) == ("b", 2, slots)


async def test_the_runner_hands_its_context_to_every_run_and_checkpoints_none_of_it() -> None:
    saver = InMemorySaver()
    gone = ScriptedToolbox(ScriptedCluster())  # diagnose_pod: not_found
    runner = IncidentRunner(IncidentContext(toolbox=Toolbox([]), policy=POLICY), saver)
    other = runner.with_context(IncidentContext(toolbox=gone, policy=POLICY))
    assert other.graph is runner.graph and runner.context.toolbox is not gone
    status = await other.start("inc-1", "default", "web-1")
    assert status.outcome == "resolved"
    assert gone.names() == ["diagnose_pod"]
    checkpoint = await saver.aget(IncidentRunner.config("inc-1"))
    assert checkpoint is not None
    assert "toolbox" not in repr(checkpoint["channel_values"])
    assert json.loads(json.dumps(status.values)) == status.values  # JSON-native state
