"""One agent, two clusters: one MCP server over two kubesims (a `Fleet`), one watch loop.

Each kubesim is a real API server over HTTP; the server holds a gateway per cluster and one
shared store. Every clock is the simulated one (no test sleeps).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp.shared.memory import create_connected_server_and_client_session
from prometheus_client import REGISTRY

from agent.tools import Toolbox, cluster_scope
from agent.watch import WatchEvent, WatchSettings, run_watch
from kubesim import KubeSim
from mcp_server.approvals import target_key
from mcp_server.fleet import Fleet
from mcp_server.gateway import Gateway, RetryPolicy
from mcp_server.server import create_server
from mcp_server.state import Clock, ServerState
from policies import DEMO_POLICY_PATH, load_policy
from tests.integration.agent.conftest import one_pod, server_state
from tests.integration.agent.test_scenarios import crash_loop

pytestmark = pytest.mark.anyio


@pytest.fixture
def sims() -> Iterator[tuple[KubeSim, KubeSim]]:
    with KubeSim() as first, KubeSim() as second:
        yield first, second


def fleet_of(sims: tuple[KubeSim, KubeSim], state_dir: Path, policy: Any = None) -> Fleet:
    """Cluster `a` owns the store; `b` shares it (as `kubemedic watch --context a --context b`
    builds it), each with its own gateway and clock."""
    made = server_state(sims[0], state_dir, policy=policy)  # the one-cluster test setup
    made.close()
    states: dict[str, ServerState] = {}
    for name, sim in zip(("a", "b"), sims, strict=True):
        gateway = Gateway.from_kubeconfig(
            sim.kubeconfig_path, retry=RetryPolicy(base_delay=0.0), sleep=lambda s: None
        )
        clock = Clock(now=sim.clock.now, monotonic=sim.clock.seconds, sleep=sim.advance)
        states[name] = ServerState(
            made.config,
            gateway,
            policy=made.policy,
            clock=clock,
            cluster=name,
            shared=states.get("a"),
        )
    a, b = states["a"], states["b"]
    return Fleet({"a": a, "b": b})


def _counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_one_watch_heals_a_crash_loop_in_each_cluster(
    sims: tuple[KubeSim, KubeSim], tmp_path: Path
) -> None:
    crashing = [crash_loop(sims[0]), crash_loop(sims[1])]
    fleet = fleet_of(sims, tmp_path / "state", policy=load_policy(DEMO_POLICY_PATH))
    before = {
        c: _counter("kubemedic_cluster_healing_success_total", cluster=c, action="delete_pod")
        for c in ("a", "b")
    }
    events: list[WatchEvent] = []

    async def advance(seconds: float) -> None:
        for sim in sims:
            sim.advance(seconds)

    settings = WatchSettings(
        state_dir=tmp_path / "state",
        policy=fleet.default.policy,
        sleep=advance,
        poll_interval_seconds=5,
        verify_interval_seconds=10,
        verify_max_checks=24,
        stop_when_idle=True,
        max_polls=40,
        clusters=("a", "b"),
    )
    try:
        async with create_connected_server_and_client_session(create_server(fleet)) as session:
            summary = await run_watch(session, settings, on_event=events.append)
    finally:
        fleet.close()

    by_workload = {report.workload: report for report in summary.incidents}
    assert set(by_workload) == {"a/default/Deployment/web", "b/default/Deployment/web"}
    for report in by_workload.values():
        assert report.outcome == "healed", report
        assert report.approver == "policy (auto-approved)"
    for sim, old in zip(sims, crashing, strict=True):
        assert one_pod(sim, "web-")["metadata"]["name"] != old
    # The audit chain is shared and every write record names its cluster.
    records = fleet.default.audit.records()
    phases = [(r.get("cluster"), r.get("phase")) for r in records if r.get("phase")]
    for cluster in ("a", "b"):
        assert (cluster, "intent") in phases and (cluster, "outcome") in phases, phases
    assert all(r.get("cluster") in ("a", "b") for r in records if r.get("phase"))
    # The per-cluster metrics name the cluster.
    for cluster in ("a", "b"):
        healed = _counter(
            "kubemedic_cluster_healing_success_total", cluster=cluster, action="delete_pod"
        )
        assert healed == before[cluster] + 1
        assert _counter("kubemedic_cluster_info", cluster=cluster) == 1


async def test_cluster_argument_picks_the_cluster_and_binds_approvals(
    sims: tuple[KubeSim, KubeSim], tmp_path: Path
) -> None:
    crash_loop(sims[1])  # only b has a broken pod
    fleet = fleet_of(sims, tmp_path / "state")  # the default policy: a delete needs approval
    try:
        async with create_connected_server_and_client_session(create_server(fleet)) as session:
            tools = await Toolbox.from_session(session)
            listed_b = await tools.call("list_unhealthy_pods", cluster="b")
            listed_a = await tools.call("list_unhealthy_pods", cluster="a")
            default = await tools.call("list_unhealthy_pods")
            unknown = await tools.call("list_unhealthy_pods", cluster="c")
            pod = listed_b["pods"][0]["pod_name"]
            with cluster_scope("b"):  # every call of an incident on b names b
                plan = await tools.call("plan_healing", namespace="default", pod_name=pod)
                asked = await tools.call(
                    "auto_heal_pod",
                    namespace="default",
                    pod_name=pod,
                    plan_id=plan["plan_id"],
                    idempotency_key="fleet-b-1",
                )
            on_a = await tools.call(
                "auto_heal_pod",
                namespace="default",
                pod_name=pod,
                cluster="a",
                plan_id=asked["error"]["plan_id"],
                approval_id=asked["error"]["approval_id"],
            )
    finally:
        fleet.close()

    assert listed_b["success"] and [p["pod_name"] for p in listed_b["pods"]] == [pod]
    assert listed_a["success"] and listed_a["pods"] == []
    assert default["pods"] == listed_a["pods"]  # no cluster: the first one
    assert unknown["success"] is False
    assert unknown["error"]["code"] == "invalid_input"
    assert unknown["error"]["known_clusters"] == ["a", "b"]
    assert asked["error"]["code"] == "approval_required"
    approval = fleet.default.approvals.get(asked["error"]["approval_id"])
    assert approval is not None
    assert approval.target == target_key("Pod", "default", pod, "b")
    # b's plan and approval are not usable on a: nothing is written there.
    assert on_a["success"] is False
    assert on_a["error"]["code"] in ("plan_not_found", "not_found")
    assert not [r for r in sims[0].requests if r.verb == "delete"]


async def test_an_actions_status_is_read_on_its_own_cluster(
    sims: tuple[KubeSim, KubeSim], tmp_path: Path
) -> None:
    """The ledger is shared; a write on b is verified with b's reads, and asking a is refused
    with the cluster to ask instead."""
    crash_loop(sims[1])
    fleet = fleet_of(sims, tmp_path / "state", policy=load_policy(DEMO_POLICY_PATH))
    try:
        async with create_connected_server_and_client_session(create_server(fleet)) as session:
            tools = await Toolbox.from_session(session)
            pod = (await tools.call("list_unhealthy_pods", cluster="b"))["pods"][0]["pod_name"]
            with cluster_scope("b"):
                plan = await tools.call("plan_healing", namespace="default", pod_name=pod)
                healed = await tools.call(
                    "auto_heal_pod",
                    namespace="default",
                    pod_name=pod,
                    plan_id=plan["plan_id"],
                    idempotency_key="fleet-status-1",
                )
            action_id = healed["action_id"]
            on_a = await tools.call("get_action_status", action_id=action_id, cluster="a")
            by_default = await tools.call("get_action_status", action_id=action_id)
            on_b = await tools.call("get_action_status", action_id=action_id, cluster="b")
    finally:
        fleet.close()

    assert healed["success"], healed
    for refused in (on_a, by_default):  # the default cluster is a
        assert refused["success"] is False
        assert refused["error"]["code"] == "invalid_input"
        assert refused["error"]["action_cluster"] == "b"
    assert on_b["success"], on_b
    assert on_b["cluster"] == "b"
    assert on_b["outcome"] == "applied"
    assert on_b["target"]["name"] == pod  # a delete_pod targets the pod


async def test_watch_configuration_builds_one_server_over_the_contexts(
    sims: tuple[KubeSim, KubeSim], tmp_path: Path
) -> None:
    """What `kubemedic sim --clusters 2` writes and `kubemedic watch --context kubesim-1
    --context kubesim-2` (or a clusters file) builds: one state per context, one store."""
    from kubemedic.agent_runtime import mcp_session, watch_settings
    from kubemedic.clusters import ClustersError, load_clusters_file
    from kubemedic.commands.sim import write_merged_kubeconfig
    from kubemedic.settings import Settings

    crash_loop(sims[1])
    merged = write_merged_kubeconfig(tmp_path / "kubeconfig", [sim.kubeconfig_path for sim in sims])
    clusters_file = tmp_path / "clusters.yaml"
    clusters_file.write_text(
        "- {name: east, context: kubesim-1}\n- {context: kubesim-2, kubeconfig: kubeconfig}\n"
    )
    specs = load_clusters_file(clusters_file)
    assert [(s.name, s.context) for s in specs] == [("east", "kubesim-1"), ("kubesim-2",) * 2]
    assert specs[1].kubeconfig == merged
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {name: a/b, context: x}\n")
    with pytest.raises(ClustersError):
        load_clusters_file(bad)
    assert Settings(contexts=("only",)).cluster_specs() == []  # one context: one cluster

    settings = Settings(
        kubeconfig=merged,
        clusters_file=clusters_file,
        state_dir=tmp_path / "state",
        usage_sample_seconds=0,
    )
    assert watch_settings(settings).clusters == ("east", "kubesim-2")
    served: list[Any] = []
    async with mcp_session(settings, pod_cache=False, on_state=served.append) as session:
        tools = await Toolbox.from_session(session)
        east = await tools.call("list_unhealthy_pods", cluster="east")
        second = await tools.call("list_unhealthy_pods", cluster="kubesim-2")
    fleet = served[0]
    assert isinstance(fleet, Fleet) and fleet.names == ["east", "kubesim-2"]
    assert fleet.states["kubesim-2"].approvals is fleet.default.approvals  # one store
    assert east["pods"] == []
    assert [p["namespace"] for p in second["pods"]] == ["default"]
