"""The watch loop against the scripted MCP server: one incident per workload (also across a
restart), approvals answered in-process or left pending, bounded concurrency."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp.client.session import ClientSession
from mcp.shared.memory import create_connected_server_and_client_session

from agent.incidents import IncidentRegistry
from agent.watch import WatchEvent, WatchSettings, run_watch
from policies import policy_from_dict
from tests.unit.agent.harness import no_wait
from tests.unit.agent.scripted import (
    ScriptedCluster,
    crashloop_diagnosis,
    scripted_server,
    unhealthy_pod,
)

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def session_for(cluster: ScriptedCluster) -> AsyncIterator[ClientSession]:
    async with create_connected_server_and_client_session(scripted_server(cluster)) as session:
        yield session


def settings(state: Path, **overrides: Any) -> WatchSettings:
    options: dict[str, Any] = {
        "state_dir": state,
        "policy": policy_from_dict({}),
        "sleep": no_wait,
        "poll_interval_seconds": 5,
        "verify_interval_seconds": 10,
        "verify_max_checks": 4,
    }
    options.update(overrides)
    return WatchSettings(**options)


def two_pods_one_workload() -> ScriptedCluster:
    a, b = "web-5d8f7-aaaaa", "web-5d8f7-bbbbb"
    return ScriptedCluster(
        diagnoses={a: crashloop_diagnosis(a), b: crashloop_diagnosis(b)},
        unhealthy=[[unhealthy_pod(a), unhealthy_pod(b)]],
    )


async def test_one_incident_per_workload_even_across_restarts(tmp_path: Path) -> None:
    cluster = two_pods_one_workload()
    events: list[WatchEvent] = []
    async with session_for(cluster) as session:
        first = await run_watch(session, settings(tmp_path, max_polls=3), on_event=events.append)
    assert len(first.incidents) == 1
    incident = first.incidents[0]
    assert incident.workload == "default/Deployment/web"
    assert incident.outcome is None  # waiting for a human
    assert [e.kind for e in events].count("opened") == 1
    assert [e.kind for e in events].count("approval_pending") == 1

    # A new process with the same state: the incident is still the open one; none is added.
    events.clear()
    async with session_for(cluster) as session:
        second = await run_watch(session, settings(tmp_path, max_polls=3), on_event=events.append)
    assert [e.kind for e in events].count("opened") == 0
    assert [i.incident_id for i in second.incidents] == [incident.incident_id]
    registry = IncidentRegistry(tmp_path / "incidents.sqlite")
    assert [i.id for i in registry.open_incidents()] == [incident.incident_id]
    assert cluster.writes == []


async def test_registry_refuses_a_second_open_incident(tmp_path: Path) -> None:
    registry = IncidentRegistry(tmp_path / "incidents.sqlite")
    first, created = registry.open("default/Deployment/web", "default", "web-1")
    again, created_again = IncidentRegistry(tmp_path / "incidents.sqlite").open(
        "default/Deployment/web", "default", "web-2"
    )
    assert created and not created_again and again.id == first.id
    registry.close(first.id, "healed")
    third, created_third = registry.open("default/Deployment/web", "default", "web-3")
    assert created_third and third.id != first.id


async def test_in_process_approval_heals_and_closes(tmp_path: Path) -> None:
    cluster = two_pods_one_workload()
    cluster.unhealthy = [cluster.unhealthy[0], []]  # healthy once acted

    async def approve(payload: dict[str, Any]) -> dict[str, Any]:
        cluster.grant(payload["approval_id"])  # what the composition root does in the store
        return {"decision": "approve", "approver": "oncall"}

    async with session_for(cluster) as session:
        summary = await run_watch(
            session, settings(tmp_path, stop_when_idle=True, max_polls=20), approve=approve
        )
    assert len(summary.incidents) == 1
    report = summary.incidents[0]
    assert report.outcome == "healed"
    assert report.approver == "oncall"
    assert report.action == "delete_pod"
    assert len(cluster.writes) == 1
    assert IncidentRegistry(tmp_path / "incidents.sqlite").open_incidents() == []


async def test_incidents_of_several_workloads_run_with_a_bound(tmp_path: Path) -> None:
    names = {f"app{i}-5d8f7-abcde": f"Deployment/app{i}" for i in range(3)}
    diagnoses = {}
    for pod, workload in names.items():
        diagnosis = crashloop_diagnosis(pod)
        diagnosis["workload"]["name"] = workload.split("/")[1]
        diagnoses[pod] = diagnosis
    cluster = ScriptedCluster(
        diagnoses=diagnoses,
        unhealthy=[[unhealthy_pod(p, w) for p, w in names.items()], []],
        auto_approve={"delete_pod"},
    )
    async with session_for(cluster) as session:
        summary = await run_watch(
            session, settings(tmp_path, stop_when_idle=True, max_polls=20, max_concurrent=1)
        )
    assert sorted(r.workload for r in summary.incidents) == [
        f"default/Deployment/app{i}" for i in range(3)
    ]
    assert {r.outcome for r in summary.incidents} == {"healed"}
    assert len(cluster.writes) == 3


async def test_stopped_mid_incident_continues_on_the_next_start(tmp_path: Path) -> None:
    import asyncio

    cluster = two_pods_one_workload()
    cluster.auto_approve = {"delete_pod"}
    cluster.unhealthy = [cluster.unhealthy[0], []]
    stop = asyncio.Event()

    async def hang(seconds: float) -> None:
        await asyncio.Event().wait()  # time stands still: verification never ends by itself

    def stop_after_act(event: WatchEvent) -> None:
        if event.kind == "progress" and event.data.get("node") == "act":
            stop.set()

    async with session_for(cluster) as session:
        first = await run_watch(
            session,
            settings(tmp_path, sleep=hang, shutdown_grace_seconds=0.05),
            on_event=stop_after_act,
            stop=stop,
        )
    (cut,) = first.incidents
    assert cut.outcome is None  # cancelled while verifying; still open
    assert cut.stage == "in_flight"
    assert first.stop_line().endswith(
        "0 incident(s) wait for approval, 1 in flight (resume on restart)"
    )
    assert len(cluster.writes) == 1

    events: list[WatchEvent] = []
    async with session_for(cluster) as session:
        second = await run_watch(
            session,
            settings(tmp_path, stop_when_idle=True, max_polls=10),
            on_event=events.append,
        )
    by_id = {r.incident_id: r for r in second.incidents}
    assert by_id[cut.incident_id].outcome == "healed"
    assert len(cluster.writes) == 1  # continued at verify: the delete was not repeated
    progress = [e.data for e in events if e.kind == "progress"]
    resumed = progress[0]["timeline"][0]
    assert (progress[0]["node"], resumed["event"]) == ("verify", "verifying")
    assert resumed["detail"].startswith("delete_pod on Deployment/web: action ")


async def test_shutdown_counts_an_incident_waiting_for_approval_apart(tmp_path: Path) -> None:
    async with session_for(two_pods_one_workload()) as session:
        summary = await run_watch(session, settings(tmp_path, max_polls=2))
    (waiting,) = summary.incidents
    assert waiting.outcome is None and waiting.stage == "approval"
    assert summary.stop_line() == (
        "stopped after 2 polls; 1 incident(s) wait for approval, 0 in flight (resume on restart)"
    )
