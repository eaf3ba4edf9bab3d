"""The usage sampler on its own: samples tagged by restart, one per scrape, bounded by the
window, gone with their pods; metrics unavailable said once, with back-off, never a crash."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from mcp_server.gateway import Forbidden, Gateway, MetricsNotServed
from mcp_server.pod_cache import PodCache
from mcp_server.usage import ContainerKey, UsageSampler

MI = 2**20
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC).timestamp()


def stamp(seconds: float) -> str:
    return datetime.fromtimestamp(T0 + seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeGateway:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.error: Exception | None = None
        self.calls = 0

    def list_pod_metrics(self, namespace: str | None = None) -> list[dict[str, Any]]:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self.items


class FakeCache:
    def __init__(self) -> None:
        self.by_name: dict[str, dict[str, Any]] = {}

    def pods(self, namespace: str | None = None) -> list[dict[str, Any]]:
        return list(self.by_name.values())

    def wait_synced(self, timeout: float | None = None) -> bool:
        return True


def pod(name: str, uid: str, restarts: int = 0, limit: str = "256Mi") -> dict[str, Any]:
    return {
        "metadata": {"namespace": "default", "name": name, "uid": uid},
        "spec": {
            "containers": [
                {"name": "app", "resources": {"limits": {"memory": limit}, "requests": {}}}
            ]
        },
        "status": {"containerStatuses": [{"name": "app", "restartCount": restarts}]},
    }


def metrics(name: str, at: float, memory_mi: float, cpu: str = "5m") -> dict[str, Any]:
    return {
        "metadata": {"namespace": "default", "name": name},
        "timestamp": stamp(at),
        "window": "15s",
        "containers": [{"name": "app", "usage": {"memory": f"{memory_mi}Mi", "cpu": cpu}}],
    }


class World:
    def __init__(self, window: float = 1800.0) -> None:
        self.gateway = FakeGateway()
        self.cache = FakeCache()
        self.now = T0
        self.sampler = UsageSampler(
            cast(Gateway, self.gateway),
            cast(PodCache, self.cache),
            now=lambda: self.now,
            window_seconds=window,
        )

    def scrape(self, at: float, **memory: float) -> int:
        self.now = T0 + at
        self.gateway.items = [metrics(name, at, mi) for name, mi in memory.items()]
        return self.sampler.sample_once()


KEY = ContainerKey("default", "web", "uid-1", "app")


def test_samples_are_tagged_with_the_container_instance_and_kept_once_per_scrape() -> None:
    w = World()
    w.cache.by_name["web"] = pod("web", "uid-1")
    assert w.scrape(0, web=100) == 1
    assert w.sampler.sample_once() == 0  # the same scrape again adds nothing
    w.cache.by_name["web"] = pod("web", "uid-1", restarts=1)
    assert w.scrape(15, web=40) == 1
    samples = w.sampler.samples(KEY)
    assert [(s.memory_bytes, s.restart_count) for s in samples] == [(100 * MI, 0), (40 * MI, 1)]
    assert samples[0].at == T0 and samples[1].at == T0 + 15  # the metrics' own time
    assert samples[0].memory_limit_bytes == 256 * MI and samples[0].cpu_millicores == 5
    memory = w.sampler.memory_samples("default", "web")["app"]
    assert [m.restart_count for m in memory] == [0, 1]


def test_the_window_is_bounded_in_time_and_length() -> None:
    w = World(window=600)
    w.cache.by_name["web"] = pod("web", "uid-1")
    for i in range(200):
        w.scrape(15 * i, web=100 + i % 7)
    samples = w.sampler.samples(KEY)
    assert samples[0].at >= w.now - 600 and len(samples) <= 41
    assert len(samples) <= w.sampler._maxlen


def test_containers_of_deleted_pods_are_dropped() -> None:
    w = World()
    w.cache.by_name["web"] = pod("web", "uid-1")
    w.cache.by_name["api"] = pod("api", "uid-2")
    w.scrape(0, web=100, api=50)
    assert len(w.sampler.keys()) == 2
    del w.cache.by_name["api"]
    w.scrape(15, web=101)
    assert w.sampler.keys() == [KEY]
    # A pod recreated under the same name is another pod (another uid).
    w.cache.by_name["web"] = pod("web", "uid-3")
    w.scrape(30, web=10)
    assert w.sampler.keys() == [ContainerKey("default", "web", "uid-3", "app")]


def test_summary_gives_p50_p95_and_max() -> None:
    w = World()
    w.cache.by_name["web"] = pod("web", "uid-1")
    for i in range(1, 21):
        w.scrape(15 * i, web=float(i))
    summary = w.sampler.summary(KEY)
    assert summary is not None
    assert summary.memory.count == 20 and summary.memory.max == 20 * MI
    assert summary.memory.p50 == pytest.approx(10.5 * MI)
    assert summary.memory.p95 == pytest.approx(19.05 * MI)
    assert summary.to_dict()["cpu_millicores"]["max"] == 5.0


def test_a_growing_container_is_predicted_and_a_flat_one_is_not() -> None:
    w = World()
    w.cache.by_name["web"] = pod("web", "uid-1", limit="160Mi")
    w.cache.by_name["calm"] = pod("calm", "uid-2", limit="160Mi")
    for i in range(25):  # 6 minutes at 10Mi/min
        w.scrape(15 * i, web=64 + 2.5 * i, calm=100)
    (prediction,) = w.sampler.predicted()
    assert prediction.key == KEY
    assert prediction.trend.minutes_to_limit == pytest.approx(3.6, abs=0.2)


@pytest.mark.parametrize(
    "error",
    [
        MetricsNotServed("metrics.k8s.io is not served by this cluster", status=404),
        Forbidden("pods.metrics.k8s.io is forbidden", status=403),
        RuntimeError("boom"),
    ],
)
def test_metrics_unavailable_is_said_once_and_retried_with_backoff(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    w = World()
    w.cache.by_name["web"] = pod("web", "uid-1")
    w.gateway.error = error
    with caplog.at_level(logging.WARNING, logger="mcp_server.usage.sampler"):
        for _ in range(5):
            assert w.sampler.sample_once() == 0
    delays = w.sampler._delay()
    assert delays > w.sampler.interval_seconds
    if not isinstance(error, RuntimeError):
        assert w.sampler.available is False
        assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    w.gateway.error = None
    assert w.scrape(0, web=100) == 1
    assert w.sampler.available is True and w.sampler._delay() == w.sampler.interval_seconds
