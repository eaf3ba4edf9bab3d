"""The watch-backed pod cache against kubesim: list then watch, 410 re-list, dropped watches."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import ClientSession

from kubesim import KubeSim
from mcp_server import metrics
from mcp_server.gateway import Gateway
from mcp_server.pod_cache import PodCache, wait_until
from mcp_server.pod_diagnosis import classify_pod, pod_health_score
from tests.integration.mcp.conftest import call, make_state, run_session

HEALTHY = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: calm, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: calm}}
  template:
    metadata: {labels: {app: calm}}
    spec:
      containers:
      - name: app
        image: nginx:1.25
"""

BROKEN = """
apiVersion: v1
kind: Pod
metadata: {name: broken, namespace: default}
spec:
  containers:
  - name: app
    image: nginx:9.99-no-such-tag
"""


@pytest.fixture
def cache(sim: KubeSim) -> Iterator[PodCache]:
    gw = Gateway.from_kubeconfig(sim.kubeconfig_path)
    pod_cache = PodCache(
        gw, classify=classify_pod, score=pod_health_score, watch_timeout_seconds=30
    )
    pod_cache.start()
    assert pod_cache.wait_synced(10)
    yield pod_cache
    pod_cache.stop()
    gw.close()


def _names(cache: PodCache) -> set[str]:
    return {p["metadata"]["name"] for p in cache.pods("default")}


def _api_names(sim: KubeSim) -> set[str]:
    gw = Gateway.from_kubeconfig(sim.kubeconfig_path)
    try:
        return {p["metadata"]["name"] for p in gw.list_pods("default").items}
    finally:
        gw.close()


def test_the_cache_follows_the_cluster_through_its_watch(sim: KubeSim, cache: PodCache) -> None:
    sim.apply(HEALTHY)
    sim.advance(10)
    assert wait_until(lambda: _names(cache) == _api_names(sim) and len(_names(cache)) == 2, 10)
    sim.apply(BROKEN)
    # Long enough for the pull to fail, short of the watch's deadline: the cache follows in
    # wall time (racing hundreds of simulated minutes ahead would end its watches).
    sim.advance(30)
    assert wait_until(lambda: any(p.name == "broken" for p in cache.unhealthy("default")), 60)
    (broken,) = cache.unhealthy("default")
    assert broken.issue_type in ("ImagePullBackOff", "ErrImagePull")
    assert cache.lists == 1  # one list; everything since came from the watch
    assert ("default", "broken") in metrics.scored_pods()

    gw = Gateway.from_kubeconfig(sim.kubeconfig_path)
    gw.delete_pod("default", "broken")
    gw.close()
    sim.advance(40)
    assert wait_until(lambda: "broken" not in _names(cache), 10)
    assert cache.unhealthy("default") == []
    assert ("default", "broken") not in metrics.scored_pods()


def test_a_dropped_watch_reconnects_without_a_relist(sim: KubeSim, cache: PodCache) -> None:
    assert wait_until(lambda: cache.watches >= 1, 10)
    watches = cache.watches
    assert wait_until(lambda: sim.faults.drop_watches() > 0, 10)
    assert wait_until(lambda: cache.watches > watches, 10)
    sim.apply(HEALTHY)
    sim.advance(5)
    assert wait_until(lambda: _names(cache) == _api_names(sim) != set(), 10)
    assert cache.lists == 1


def test_410_gone_relists(sim: KubeSim, cache: PodCache) -> None:
    assert wait_until(lambda: cache.watches >= 1, 10)
    sim.apply(HEALTHY)
    sim.advance(5)
    assert wait_until(lambda: len(_names(cache)) == 2, 10)
    sim.faults.expire_history()
    assert wait_until(lambda: sim.faults.drop_watches() > 0, 10)
    assert wait_until(lambda: cache.lists >= 2, 10)
    assert wait_until(lambda: _names(cache) == _api_names(sim), 10)


def test_list_unhealthy_pods_answers_from_the_cache(sim: KubeSim, tmp_path: Path) -> None:
    sim.apply(HEALTHY)
    sim.apply(BROKEN)
    sim.advance(60)
    state = make_state(sim, tmp_path / "state", pod_cache=True)

    async def body(session: ClientSession) -> None:
        assert state.cache is not None and state.cache.wait_synced(10)
        sim.reset_requests()
        result = await call(session, "list_unhealthy_pods", namespace="default")
        assert result["success"] is True and result["synced"] is True
        assert [p["pod_name"] for p in result["pods"]] == ["broken"]
        assert result["pods"][0]["issue_type"] in ("ImagePullBackOff", "ErrImagePull")
        everywhere = await call(session, "list_unhealthy_pods")
        assert [p["pod_name"] for p in everywhere["pods"]] == ["broken"]
        assert everywhere["pods_monitored"] >= 3
        # (The usage sampler's own background rounds list pod metrics; the tool reads none.)
        assert not [
            r for r in sim.requests if r.verb in ("list", "get") and r.group != "metrics.k8s.io"
        ]

    try:
        run_session(state, body)
    finally:
        state.close()
