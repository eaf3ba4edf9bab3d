"""The usage sampler: every container's working set and CPU over the last half hour.

While the server runs with its pod cache, one thread lists `metrics.k8s.io/v1beta1` PodMetrics
cluster-wide every `usage_sample_seconds` (one request; metrics-server's resolution is 15 s)
and keeps, per container (namespace, pod, pod uid, container), a bounded window of samples:
time, working-set bytes, CPU millicores, and the restart count of the container instance
(from the pod cache), so samples from before a restart can be told apart. Containers of pods
that are gone are dropped. The time of a sample is the metrics' own `timestamp` (the end of
their window), so a simulated cluster's clock and a real one both work; the server's clock
only trims the window.

Readers (all thread-safe, all plain data):

- `samples(key)` / `history(namespace, pod)`: the samples of one container / of a pod's
  containers (current pod uid), oldest first;
- `memory_samples(namespace, pod)`: the same as `policies.memory_trend.MemorySample`s,
  for the diagnostics and the trend math;
- `summary(key)`: p50 / p95 / max of memory and CPU over the window;
- `predicted(namespace)`: the containers predicted to be OOM-killed within the policy's
  horizon, refreshed after every round.

Metrics not served (no metrics-server, 403, 404, 503): said once in the log, retried with
back-off; the server goes on without usage.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from mcp_server.diagnostics.resources import cpu_millicores, memory_bytes
from mcp_server.gateway import Forbidden, Gateway, GatewayError, MetricsNotServed
from mcp_server.pod_cache import PodCache
from policies.memory_trend import MemorySample, MemoryTrend, UsageSummary, predict_oom, summarize

log = logging.getLogger(__name__)

JSON = dict[str, Any]
DEFAULT_INTERVAL_SECONDS = 15.0
DEFAULT_WINDOW_SECONDS = 30 * 60.0
MAX_BACKOFF_SECONDS = 300.0


class ContainerKey(NamedTuple):
    namespace: str
    pod: str
    pod_uid: str
    container: str


@dataclass(frozen=True, slots=True)
class UsageSample:
    at: float  # epoch seconds: the metrics' timestamp (the server's clock when absent)
    memory_bytes: int  # working set
    cpu_millicores: int
    restart_count: int  # the container instance the sample came from
    memory_limit_bytes: int | None
    memory_request_bytes: int | None

    def memory(self) -> MemorySample:
        return MemorySample(self.at, self.memory_bytes, self.memory_limit_bytes, self.restart_count)


@dataclass(frozen=True, slots=True)
class Prediction:
    key: ContainerKey
    trend: MemoryTrend


@dataclass(frozen=True, slots=True)
class ContainerSummary:
    key: ContainerKey
    memory: UsageSummary  # bytes
    cpu: UsageSummary  # millicores
    restarts_seen: int  # distinct container instances in the window

    def to_dict(self) -> JSON:
        return {
            **self.key._asdict(),
            "memory_bytes": self.memory.to_dict(),
            "cpu_millicores": self.cpu.to_dict(),
            "restarts_seen": self.restarts_seen,
        }


def _parse_time(value: object) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _container_facts(pod: JSON) -> dict[str, tuple[int, int | None, int | None]]:
    """container -> (restart count, memory limit, memory request) from the cached pod."""
    statuses = {
        str(s.get("name")): int(s.get("restartCount") or 0)
        for s in (pod.get("status") or {}).get("containerStatuses") or []
        if isinstance(s, dict)
    }
    out: dict[str, tuple[int, int | None, int | None]] = {}
    for c in (pod.get("spec") or {}).get("containers") or []:
        if not isinstance(c, dict) or not c.get("name"):
            continue
        resources = c.get("resources") or {}
        limit = memory_bytes((resources.get("limits") or {}).get("memory"))
        request = memory_bytes((resources.get("requests") or {}).get("memory"))
        name = str(c["name"])
        out[name] = (statuses.get(name, 0), limit, request)
    return out


class UsageSampler:
    def __init__(
        self,
        gateway: Gateway,
        cache: PodCache,
        *,
        now: Callable[[], float],
        interval_seconds: float = DEFAULT_INTERVAL_SECONDS,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        horizon_minutes: float = 30.0,
        max_backoff_seconds: float = MAX_BACKOFF_SECONDS,
    ) -> None:
        self._gateway = gateway
        self._cache = cache
        self._now = now
        self.interval_seconds = interval_seconds
        self.window_seconds = window_seconds
        self.horizon_minutes = horizon_minutes
        self._max_backoff = max_backoff_seconds
        # Bounded whatever the pace: a window's worth at the configured interval, and some.
        self._maxlen = int(window_seconds / max(interval_seconds, 1.0)) + 16
        self._lock = threading.Lock()
        self._series: dict[ContainerKey, deque[UsageSample]] = {}
        self._predicted: dict[ContainerKey, MemoryTrend] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.available: bool | None = None  # None: not asked yet
        self.last_error: str | None = None
        self.rounds = 0
        self._failures = 0
        self._listeners: list[Callable[[], None]] = []

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call `listener()` after every recorded round (on the sampler's thread; an exception
        is logged and the sampler goes on), e.g. to publish what the new samples change."""
        self._listeners.append(listener)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None or self.interval_seconds <= 0:
            return
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._run, name="kubemedic-usage-sampler", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            if not self._cache.wait_synced(1.0):
                continue
            self.sample_once()
            self._stopping.wait(self._delay())

    def _delay(self) -> float:
        if not self._failures:
            return self.interval_seconds
        return min(self._max_backoff, self.interval_seconds * 2.0 ** min(self._failures, 10))

    # -- sampling --------------------------------------------------------------------------

    def sample_once(self) -> int:
        """One round: list the metrics, append new samples, drop what is gone, refresh the
        predictions. Returns the samples added; never raises."""
        try:
            items = self._gateway.list_pod_metrics()
        except GatewayError as error:
            self._unavailable(error)
            return 0
        except Exception:  # noqa: BLE001 - a sampler must never take the server down
            log.exception("usage sampler: unexpected error listing pod metrics")
            self._failures += 1
            return 0
        if self.available is False:
            log.info("usage sampler: metrics.k8s.io answers again")
        self.available = True
        self.last_error = None
        self._failures = 0
        try:
            return self._record(items)
        except Exception:  # noqa: BLE001
            log.exception("usage sampler: could not record pod metrics")
            return 0

    def _unavailable(self, error: GatewayError) -> None:
        self._failures += 1
        self.last_error = f"{error.reason}: {error.message}"
        if self.available is not False:
            why = (
                "no metrics-server (metrics.k8s.io not served)"
                if isinstance(error, MetricsNotServed)
                else "forbidden to list pods.metrics.k8s.io (RBAC)"
                if isinstance(error, Forbidden)
                else "metrics.k8s.io failed"
            )
            log.warning(
                "usage sampler: %s: %s; memory trends and predicted OOM kills are off until "
                "it answers (retrying with back-off)",
                why,
                error.message,
            )
        self.available = False

    def _record(self, items: Iterable[JSON]) -> int:
        now = self._now()
        pods = {
            (str((p.get("metadata") or {}).get("namespace")), str(p["metadata"].get("name"))): p
            for p in self._cache.pods()
            if isinstance(p.get("metadata"), dict)
        }
        added = 0
        with self._lock:
            for item in items:
                meta = item.get("metadata") or {}
                pod = pods.get((str(meta.get("namespace") or ""), str(meta.get("name") or "")))
                if pod is None:
                    continue  # not (or no longer) in the cache: nothing to tag it with
                uid = str((pod.get("metadata") or {}).get("uid") or "")
                facts = _container_facts(pod)
                at = _parse_time(item.get("timestamp")) or now
                for c in item.get("containers") or []:
                    if not isinstance(c, dict) or str(c.get("name")) not in facts:
                        continue
                    name = str(c["name"])
                    usage = c.get("usage") or {}
                    mem = memory_bytes(usage.get("memory"))
                    if mem is None:
                        continue
                    restarts, limit, request = facts[name]
                    key = ContainerKey(pod["metadata"]["namespace"], meta["name"], uid, name)
                    series = self._series.get(key)
                    if series is None:
                        series = self._series[key] = deque(maxlen=self._maxlen)
                    if series and series[-1].at >= at:
                        continue  # the same scrape seen again
                    series.append(
                        UsageSample(
                            at,
                            mem,
                            cpu_millicores(usage.get("cpu")) or 0,
                            restarts,
                            limit,
                            request,
                        )
                    )
                    added += 1
            self._forget(pods, now)
            self.rounds += 1
        self._refresh_predictions()
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:  # noqa: BLE001 - a listener must never stop the sampling
                log.exception("usage sampler: a listener failed")
        return added

    def _forget(self, pods: dict[tuple[str, str], JSON], now: float) -> None:
        """Under the lock: drop containers of deleted pods and samples older than the window."""
        live = {
            (ns, name, str((pod.get("metadata") or {}).get("uid") or ""))
            for (ns, name), pod in pods.items()
        }
        oldest = now - self.window_seconds
        for key in list(self._series):
            series = self._series[key]
            if (key.namespace, key.pod, key.pod_uid) not in live:
                del self._series[key]
                continue
            while series and series[0].at < oldest:
                series.popleft()
            if not series:
                del self._series[key]

    def _refresh_predictions(self) -> None:
        with self._lock:
            snapshot = {key: [s.memory() for s in series] for key, series in self._series.items()}
        predicted: dict[ContainerKey, MemoryTrend] = {}
        for key, samples in snapshot.items():
            found = predict_oom(samples, horizon_minutes=self.horizon_minutes)
            if found is not None:
                predicted[key] = found
        with self._lock:
            self._predicted = predicted

    # -- reads -----------------------------------------------------------------------------

    def keys(self, namespace: str | None = None) -> list[ContainerKey]:
        with self._lock:
            return sorted(k for k in self._series if namespace is None or k.namespace == namespace)

    def samples(self, key: ContainerKey) -> list[UsageSample]:
        with self._lock:
            return list(self._series.get(key, ()))

    def history(
        self, namespace: str, pod: str, uid: str | None = None
    ) -> dict[str, list[UsageSample]]:
        """container -> samples of the pod (of the given uid; else of its latest uid)."""
        with self._lock:
            keys = [k for k in self._series if k.namespace == namespace and k.pod == pod]
            if uid is None and keys:
                newest = max(keys, key=lambda k: self._series[k][-1].at)
                uid = newest.pod_uid
            return {k.container: list(self._series[k]) for k in keys if k.pod_uid == uid}

    def memory_samples(
        self, namespace: str, pod: str, uid: str | None = None
    ) -> dict[str, list[MemorySample]]:
        """The pod's memory samples per container, as the trend math and diagnostics read them."""
        return {
            name: [s.memory() for s in series]
            for name, series in self.history(namespace, pod, uid).items()
        }

    def summary(self, key: ContainerKey) -> ContainerSummary | None:
        series = self.samples(key)
        if not series:
            return None
        return ContainerSummary(
            key,
            summarize([float(s.memory_bytes) for s in series]),
            summarize([float(s.cpu_millicores) for s in series]),
            len({s.restart_count for s in series}),
        )

    def summaries(self, namespace: str | None = None) -> list[ContainerSummary]:
        out = []
        for key in self.keys(namespace):
            found = self.summary(key)
            if found is not None:
                out.append(found)
        return out

    def predicted(self, namespace: str | None = None) -> list[Prediction]:
        with self._lock:
            return [
                Prediction(key, found)
                for key, found in sorted(self._predicted.items())
                if namespace is None or key.namespace == namespace
            ]
