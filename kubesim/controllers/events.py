"""Events as the controllers, the scheduler and the kubelet write them.

Controllers and the kubelet write core/v1 events: a repeat of the same (object, reason,
message) bumps `count` and `lastTimestamp`. The scheduler writes through events.k8s.io/v1, so
its events have `eventTime`, `action`, no first/last timestamps, and a `series` on repeats:
exactly what reference/kube-apiserver-1.28/responses/events-list.json shows.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from kubesim.clock import SimClock
from kubesim.store import EVENTS, NotFound, Obj, Store

_Key = tuple[str, str, str, str, str, str, str]


@dataclass(frozen=True)
class Source:
    component: str
    host: str = ""
    series: bool = False  # events.k8s.io style (the scheduler)
    action: str = ""
    instance: str = ""


KUBELET = "kubelet"
SCHEDULER = Source(
    "default-scheduler", series=True, action="Scheduling", instance="default-scheduler-kubesim"
)
DEPLOYMENT = Source("deployment-controller")
REPLICASET = Source("replicaset-controller")


def kubelet(node: str) -> Source:
    return Source(KUBELET, host=node, instance=node)


class EventRecorder:
    """Writes and aggregates events in the store."""

    def __init__(self, store: Store, clock: SimClock) -> None:
        self.store = store
        self.clock = clock
        self._index: dict[_Key, str] | None = None
        self._seq = itertools.count()

    def _key(
        self,
        namespace: str,
        involved: Obj,
        type_: str,
        reason: str,
        message: str,
        component: str,
        field_path: str,
    ) -> _Key:
        return (
            namespace,
            str(involved.get("uid", "")),
            type_,
            reason,
            message,
            component,
            field_path,
        )

    def _build_index(self) -> dict[_Key, str]:
        index: dict[_Key, str] = {}
        for ev in self.store.iter_refs(EVENTS):
            inv = ev.get("involvedObject") or {}
            component = (
                (ev.get("source") or {}).get("component") or ev.get("reportingComponent") or ""
            )
            key = self._key(
                ev["metadata"].get("namespace", ""),
                inv,
                ev.get("type", ""),
                ev.get("reason", ""),
                ev.get("message", ""),
                component,
                inv.get("fieldPath", ""),
            )
            index[key] = ev["metadata"]["name"]
        return index

    def _micro(self, at: float) -> str:
        moment = self.clock.now() + timedelta(seconds=at - self.clock.seconds())
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def emit(
        self,
        obj: Obj,
        type_: str,
        reason: str,
        message: str,
        source: Source,
        at: float,
        field_path: str = "",
        times: int = 1,
    ) -> None:
        """Record that `reason` happened to `obj` (a stored object) at simulated time `at`.

        `times` > 1 records that many occurrences at once (e.g. probe failures caught up on).
        """
        if times <= 0:
            return
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace") or "default"
        involved: dict[str, Any] = {
            "kind": obj.get("kind", ""),
            "namespace": namespace,
            "name": meta.get("name", ""),
            "uid": meta.get("uid", ""),
            "apiVersion": obj.get("apiVersion", ""),
            "resourceVersion": meta.get("resourceVersion", ""),
        }
        if field_path:
            involved["fieldPath"] = field_path
        if self._index is None:
            self._index = self._build_index()
        key = self._key(namespace, involved, type_, reason, message, source.component, field_path)
        stamp = self.clock.rfc3339(at)
        name = self._index.get(key)
        if name is not None:

            def bump(ev: Obj) -> None:
                if source.series:
                    series = ev.get("series") or {"count": 1}
                    ev["series"] = {
                        "count": int(series.get("count", 1)) + times,
                        "lastObservedTime": self._micro(at),
                    }
                else:
                    ev["count"] = int(ev.get("count") or 1) + times
                    ev["lastTimestamp"] = stamp
                ev["involvedObject"]["resourceVersion"] = involved["resourceVersion"]

            try:
                self.store.mutate(EVENTS, namespace, name, bump)
                return
            except NotFound:
                pass
        nanos = int(at * 1e9) + 1_700_000_000 * 10**9 + next(self._seq)
        name = f"{involved['name']}.{nanos:x}"
        event: Obj = {
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "type": type_,
            "reportingComponent": source.component,
            "reportingInstance": source.instance,
        }
        if source.series:
            event.update(
                {
                    "source": {},
                    "firstTimestamp": None,
                    "lastTimestamp": None,
                    "eventTime": self._micro(at),
                    "action": source.action,
                }
            )
            if times > 1:
                event["series"] = {"count": times, "lastObservedTime": self._micro(at)}
        else:
            src = {"component": source.component}
            if source.host:
                src["host"] = source.host
            event.update(
                {
                    "source": src,
                    "firstTimestamp": stamp,
                    "lastTimestamp": stamp,
                    "count": times,
                    "eventTime": None,
                }
            )
        self.store.create(EVENTS, event)
        self._index[key] = name
