"""A watch-backed pod cache (an informer): list once, then watch from that resourceVersion.

`list_unhealthy_pods` is answered from here without a round trip to the API server. On 410
Gone the cache re-lists; when the stream ends or drops it watches again from the last
resourceVersion it saw (bookmarks keep that fresh), backing off while the API is unreachable.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mcp_server import metrics
from mcp_server.gateway import Gateway, GatewayError, Gone, PodWatch

log = logging.getLogger(__name__)

JSON = dict[str, Any]
Key = tuple[str, str]  # (namespace, name)
Classifier = Callable[[JSON], str | None]  # pod -> issue type, or None when healthy
Scorer = Callable[[JSON], float]  # pod -> health score 0..100


@dataclass(frozen=True)
class UnhealthyPod:
    namespace: str
    name: str
    issue_type: str
    phase: str | None
    restart_count: int
    owner_kind: str | None
    owner_name: str | None


def _key(pod: JSON) -> Key:
    meta = pod.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _restarts(pod: JSON) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return sum(int(s.get("restartCount") or 0) for s in statuses if isinstance(s, dict))


class PodCache:
    def __init__(
        self,
        gateway: Gateway,
        *,
        classify: Classifier,
        score: Scorer | None = None,
        namespace: str | None = None,
        watch_timeout_seconds: int = 300,
        max_backoff_seconds: float = 30.0,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self._gateway = gateway
        self._classify = classify
        self._score = score
        self._namespace = namespace
        self._watch_timeout = watch_timeout_seconds
        self._max_backoff = max_backoff_seconds
        self._stopping = threading.Event()
        self._sleep: Callable[[float], None] = sleep or self._interruptible_sleep
        self._lock = threading.Lock()
        self._pods: dict[Key, JSON] = {}
        self._issues: dict[Key, str] = {}
        self._synced = threading.Event()
        self._thread: threading.Thread | None = None
        self._watch: PodWatch | None = None
        self.resource_version = ""
        self.lists = 0  # how many times the cache listed (1 + re-lists)
        self.watches = 0
        self.last_error: str | None = None

    def _interruptible_sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="kubemedic-pod-cache", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        watch = self._watch
        if watch is not None:
            watch.close()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wait_synced(self, timeout: float | None = None) -> bool:
        return self._synced.wait(timeout)

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    # -- reads -----------------------------------------------------------------------------

    def pods(self, namespace: str | None = None) -> list[JSON]:
        with self._lock:
            return [p for (ns, _), p in self._pods.items() if namespace is None or ns == namespace]

    def get(self, namespace: str, name: str) -> JSON | None:
        with self._lock:
            return self._pods.get((namespace, name))

    def unhealthy(self, namespace: str | None = None) -> list[UnhealthyPod]:
        with self._lock:
            found = []
            for key, issue in sorted(self._issues.items()):
                if namespace is not None and key[0] != namespace:
                    continue
                pod = self._pods[key]
                owners = (pod.get("metadata") or {}).get("ownerReferences") or []
                owner = owners[0] if owners and isinstance(owners[0], dict) else {}
                found.append(
                    UnhealthyPod(
                        namespace=key[0],
                        name=key[1],
                        issue_type=issue,
                        phase=(pod.get("status") or {}).get("phase"),
                        restart_count=_restarts(pod),
                        owner_kind=owner.get("kind"),
                        owner_name=owner.get("name"),
                    )
                )
            return found

    # -- the informer loop -----------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        need_list = True
        while not self._stopping.is_set():
            try:
                if need_list:
                    self._list()
                    need_list = False
                self._watch_once()
                failures = 0
            except Gone:
                log.info("pod watch: resourceVersion %s is gone, re-listing", self.resource_version)
                need_list = True
            except GatewayError as error:
                if self._stopping.is_set():
                    break
                failures += 1
                self.last_error = f"{error.reason}: {error.message}"
                delay = min(self._max_backoff, 0.5 * 2 ** min(failures, 6))
                log.warning("pod cache: %s; retrying in %.1fs", self.last_error, delay)
                self._sleep(delay)
                # After repeated failures the stream may have missed deletes: list afresh.
                need_list = need_list or failures >= 3
            except Exception:  # noqa: BLE001 - the informer must outlive any one bad event
                log.exception("pod cache: unexpected error; re-listing")
                failures += 1
                need_list = True
                self._sleep(min(self._max_backoff, 0.5 * 2 ** min(failures, 6)))

    def _list(self) -> None:
        listed = self._gateway.list_pods(self._namespace)
        self.lists += 1
        fresh = {_key(p): p for p in listed.items}
        with self._lock:
            gone = set(self._pods) - set(fresh)
            self._pods = {}
            self._issues = {}
            for key, pod in fresh.items():
                self._store(key, pod)
        for namespace, name in gone:
            metrics.forget_pod(namespace, name)
        self.resource_version = listed.resource_version
        self._synced.set()
        self._publish()

    def _watch_once(self) -> None:
        self._watch = self._gateway.watch_pods(
            self.resource_version, namespace=self._namespace, timeout_seconds=self._watch_timeout
        )
        self.watches += 1
        try:
            if self._stopping.is_set():
                return
            for event in self._watch:
                if self._stopping.is_set():
                    return
                rv = (event.object.get("metadata") or {}).get("resourceVersion")
                if event.type == "BOOKMARK":
                    if rv:
                        self.resource_version = str(rv)
                    continue
                key = _key(event.object)
                with self._lock:
                    if event.type == "DELETED":
                        self._pods.pop(key, None)
                        self._issues.pop(key, None)
                    else:
                        self._store(key, event.object)
                if event.type == "DELETED":
                    metrics.forget_pod(*key)
                if rv:
                    self.resource_version = str(rv)
                self._publish()
        finally:
            self._watch.close()
            self._watch = None

    def _store(self, key: Key, pod: JSON) -> None:
        """Under the lock: remember the pod and its classification."""
        self._pods[key] = pod
        issue = self._classify(pod)
        if issue:
            self._issues[key] = issue
        else:
            self._issues.pop(key, None)
        if self._score is not None:
            metrics.set_pod_health(key[0], key[1], self._score(pod))

    def _publish(self) -> None:
        with self._lock:
            total = len(self._pods)
            counts: dict[str, int] = {}
            for issue in self._issues.values():
                counts[issue] = counts.get(issue, 0) + 1
        metrics.pods_monitored.set(total)
        for issue_type in set(counts) | _published_types:
            metrics.unhealthy_pods.labels(issue_type=issue_type).set(counts.get(issue_type, 0))
        _published_types.update(counts)


_published_types: set[str] = set()


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.01) -> bool:
    """Poll `predicate` until true or `timeout` wall seconds pass (for callers and tests)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
