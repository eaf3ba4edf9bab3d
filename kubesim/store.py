"""The object store: kubesim's etcd. Plain dict objects, one resourceVersion counter, watches.

Every write bumps the global resourceVersion, stamps the object's metadata the way the API
server does (uid, creationTimestamp, resourceVersion, generation), and appends a watch event to
a bounded history. A watch from a resourceVersion older than the history raises `Gone` (410).
Writers pass plain dicts; readers get deep copies, so nobody mutates stored state by accident.
"""

from __future__ import annotations

import builtins
import copy
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from kubesim.clock import SimClock

Obj = dict[str, Any]


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = (
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    )

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


NAMESPACES = ResourceType(
    "", "v1", "namespaces", "Namespace", namespaced=False, short_names=("ns",)
)
NODES = ResourceType("", "v1", "nodes", "Node", namespaced=False, short_names=("no",))
PODS = ResourceType("", "v1", "pods", "Pod", short_names=("po",))
EVENTS = ResourceType("", "v1", "events", "Event", short_names=("ev",))
CONFIGMAPS = ResourceType("", "v1", "configmaps", "ConfigMap", short_names=("cm",))
SECRETS = ResourceType("", "v1", "secrets", "Secret")
PVCS = ResourceType(
    "", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", short_names=("pvc",)
)
PVS = ResourceType(
    "", "v1", "persistentvolumes", "PersistentVolume", namespaced=False, short_names=("pv",)
)
STORAGECLASSES = ResourceType(
    "storage.k8s.io", "v1", "storageclasses", "StorageClass", namespaced=False, short_names=("sc",)
)
LIMITRANGES = ResourceType("", "v1", "limitranges", "LimitRange", short_names=("limits",))
SERVICEACCOUNTS = ResourceType("", "v1", "serviceaccounts", "ServiceAccount", short_names=("sa",))
SERVICES = ResourceType("", "v1", "services", "Service", short_names=("svc",))
ENDPOINTS = ResourceType("", "v1", "endpoints", "Endpoints", short_names=("ep",))
DEPLOYMENTS = ResourceType("apps", "v1", "deployments", "Deployment", short_names=("deploy",))
REPLICASETS = ResourceType("apps", "v1", "replicasets", "ReplicaSet", short_names=("rs",))
STATEFULSETS = ResourceType("apps", "v1", "statefulsets", "StatefulSet", short_names=("sts",))
DAEMONSETS = ResourceType("apps", "v1", "daemonsets", "DaemonSet", short_names=("ds",))
CONTROLLERREVISIONS = ResourceType("apps", "v1", "controllerrevisions", "ControllerRevision")
PDBS = ResourceType(
    "policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", short_names=("pdb",)
)
LEASES = ResourceType("coordination.k8s.io", "v1", "leases", "Lease")
JOBS = ResourceType("batch", "v1", "jobs", "Job")
CRONJOBS = ResourceType("batch", "v1", "cronjobs", "CronJob", short_names=("cj",))
ENDPOINTSLICES = ResourceType("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice")
POD_METRICS = ResourceType("metrics.k8s.io", "v1beta1", "pods", "PodMetrics", verbs=("get", "list"))

RESOURCE_TYPES: tuple[ResourceType, ...] = (
    NAMESPACES,
    NODES,
    PODS,
    EVENTS,
    CONFIGMAPS,
    SECRETS,
    PVCS,
    PVS,
    STORAGECLASSES,
    LIMITRANGES,
    SERVICEACCOUNTS,
    SERVICES,
    ENDPOINTS,
    DEPLOYMENTS,
    REPLICASETS,
    STATEFULSETS,
    DAEMONSETS,
    CONTROLLERREVISIONS,
    PDBS,
    LEASES,
    JOBS,
    CRONJOBS,
    ENDPOINTSLICES,
    POD_METRICS,
)


# Kinds with a generation besides Deployments and ReplicaSets. An EndpointSlice has no spec: its
# generation counts every change but to metadata (labels excepted), as its registry strategy does.
_GENERATED = {JOBS, CRONJOBS, ENDPOINTSLICES}


def _slice_changed(rtype: ResourceType, obj: Obj, current: Obj) -> bool:
    if rtype is not ENDPOINTSLICES:
        return False
    body = {k: v for k, v in obj.items() if k != "metadata"}
    if body != {k: v for k, v in current.items() if k != "metadata"}:
        return True
    return bool(obj["metadata"].get("labels") != current["metadata"].get("labels"))


def _qualified(rtype: ResourceType) -> str:
    """`pods`, or `deployments.apps`: how Status messages name a resource."""
    return f"{rtype.plural}.{rtype.group}" if rtype.group else rtype.plural


class StoreError(Exception):
    """Base for store errors; each maps to a Kubernetes Status error."""

    code = 500
    reason = "InternalError"


class NotFound(StoreError):
    code = 404
    reason = "NotFound"


class AlreadyExists(StoreError):
    code = 409
    reason = "AlreadyExists"


class Conflict(StoreError):
    code = 409
    reason = "Conflict"


class Gone(StoreError):
    code = 410
    reason = "Expired"


class TooLarge(StoreError):
    code = 504
    reason = "Timeout"


@dataclass
class WatchEvent:
    type: str  # ADDED, MODIFIED, DELETED
    rtype: ResourceType
    object: Obj
    resource_version: int
    # The object before a MODIFIED (stored objects are replaced, never mutated): filtered watches
    # turn a change that leaves or enters the selection into DELETED / ADDED, as the server does.
    previous: Obj | None = None


@dataclass
class _Watcher:
    rtype: ResourceType
    namespace: str | None
    callback: Callable[[WatchEvent], None]


@dataclass
class Store:
    clock: SimClock
    history_size: int = 5000
    _objects: dict[tuple[ResourceType, str, str], Obj] = field(default_factory=dict)
    # The same objects per type, so listing one type does not walk every object (events pile up).
    _by_type: dict[ResourceType, dict[tuple[str, str], Obj]] = field(default_factory=dict)
    _rv: int = 1000
    _history: deque[WatchEvent] = field(default_factory=deque)
    _watchers: list[_Watcher] = field(default_factory=list)
    _type_rv: dict[ResourceType, int] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    # -- reads ---------------------------------------------------------------------------
    @property
    def resource_version(self) -> int:
        return self._rv

    def type_resource_version(self, rtype: ResourceType) -> int | None:
        """The resourceVersion of the last change to an object of this type (None: none yet)."""
        with self.lock:
            return self._type_rv.get(rtype)

    def get(self, rtype: ResourceType, namespace: str, name: str) -> Obj:
        with self.lock:
            obj = self._objects.get((rtype, namespace or "", name))
            if obj is None:
                raise NotFound(f'{_qualified(rtype)} "{name}" not found')
            return copy.deepcopy(obj)

    def find(self, rtype: ResourceType, namespace: str, name: str) -> Obj | None:
        try:
            return self.get(rtype, namespace, name)
        except NotFound:
            return None

    def list(self, rtype: ResourceType, namespace: str | None = None) -> list[Obj]:
        """All objects of a type (in a namespace, or all), sorted by namespace then name."""
        with self.lock:
            items = [
                obj
                for (ns, _), obj in self._by_type.get(rtype, {}).items()
                if namespace is None or ns == namespace
            ]
            items.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
            return copy.deepcopy(items)

    def iter_refs(self, rtype: ResourceType, namespace: str | None = None) -> Iterator[Obj]:
        """Stored objects without copying: for controllers that only read. Do not mutate."""
        with self.lock:
            items = [
                obj
                for (ns, _), obj in self._by_type.get(rtype, {}).items()
                if namespace is None or ns == namespace
            ]
        return iter(items)

    def peek(self, rtype: ResourceType, namespace: str, name: str) -> Obj | None:
        """One stored object without copying (or None): for controllers that only read."""
        with self.lock:
            return self._objects.get((rtype, namespace or "" if rtype.namespaced else "", name))

    def keyed_refs(
        self, rtype: ResourceType, namespace: str | None = None
    ) -> builtins.list[tuple[tuple[str, str], Obj]]:
        """((namespace, name), stored object) pairs sorted by key, without copying.

        Do not mutate."""
        with self.lock:
            items = [
                (key, obj)
                for key, obj in self._by_type.get(rtype, {}).items()
                if namespace is None or key[0] == namespace
            ]
        items.sort(key=lambda pair: pair[0])
        return items

    # -- writes --------------------------------------------------------------------------
    def create(self, rtype: ResourceType, obj: Obj, *, keep_metadata: bool = False) -> Obj:
        """Store a new object. keep_metadata: keep a recorded uid / creationTimestamp (loading)."""
        with self.lock:
            obj = copy.deepcopy(obj)
            meta = obj.setdefault("metadata", {})
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
            name = meta.get("name", "")
            namespace = meta.get("namespace", "") if rtype.namespaced else ""
            key = (rtype, namespace, name)
            if key in self._objects:
                raise AlreadyExists(f'{_qualified(rtype)} "{name}" already exists')
            obj["apiVersion"] = rtype.api_version
            obj["kind"] = rtype.kind
            if not (keep_metadata and meta.get("uid")):
                meta["uid"] = str(uuid.uuid4())
            if not (keep_metadata and meta.get("creationTimestamp")):
                meta["creationTimestamp"] = self.clock.rfc3339()
            if ("spec" in obj and rtype in (DEPLOYMENTS, REPLICASETS)) or rtype in _GENERATED:
                if not (keep_metadata and meta.get("generation")):
                    meta["generation"] = 1
            if rtype in (STATEFULSETS, DAEMONSETS) and not (
                keep_metadata and meta.get("generation")
            ):
                meta["generation"] = 1
            self._stamp(obj)
            self._objects[key] = obj
            self._by_type.setdefault(rtype, {})[key[1:]] = obj
            self._emit("ADDED", rtype, obj)
            return copy.deepcopy(obj)

    def update(self, rtype: ResourceType, obj: Obj, *, check_version: bool = True) -> Obj:
        """Replace an object. With check_version, a stale resourceVersion is a Conflict."""
        with self.lock:
            obj = copy.deepcopy(obj)
            meta = obj["metadata"]
            namespace = meta.get("namespace", "") if rtype.namespaced else ""
            key = (rtype, namespace, meta["name"])
            current = self._objects.get(key)
            if current is None:
                raise NotFound(f'{rtype.plural} "{meta["name"]}" not found')
            sent = meta.get("resourceVersion")
            if check_version and sent and sent != current["metadata"]["resourceVersion"]:
                raise Conflict(
                    f"Operation cannot be fulfilled on {_qualified(rtype)} "
                    f'"{meta["name"]}": the object has been modified; please apply your changes '
                    "to the latest version and try again"
                )
            # Server-owned metadata survives any client write.
            for owned in ("uid", "creationTimestamp"):
                meta[owned] = current["metadata"][owned]
            if "generation" in current["metadata"]:
                generation = current["metadata"]["generation"]
                if obj.get("spec") != current.get("spec") or _slice_changed(rtype, obj, current):
                    generation += 1
                meta["generation"] = generation
            if obj == current:
                return copy.deepcopy(current)
            self._stamp(obj)
            self._objects[key] = obj
            self._by_type.setdefault(rtype, {})[key[1:]] = obj
            self._emit("MODIFIED", rtype, obj, previous=current)
            return copy.deepcopy(obj)

    def mutate(
        self, rtype: ResourceType, namespace: str, name: str, change: Callable[[Obj], None]
    ) -> Obj:
        """Read-modify-write under the lock (for controllers): no conflicts possible."""
        with self.lock:
            obj = self.get(rtype, namespace, name)
            change(obj)
            return self.update(rtype, obj, check_version=False)

    def delete(self, rtype: ResourceType, namespace: str, name: str) -> Obj:
        with self.lock:
            key = (rtype, namespace or "" if rtype.namespaced else "", name)
            obj = self._objects.pop(key, None)
            self._by_type.get(rtype, {}).pop(key[1:], None)
            if obj is None:
                raise NotFound(f'{_qualified(rtype)} "{name}" not found')
            before = {**obj, "metadata": dict(obj["metadata"])}  # as it was: for snapshots
            self._stamp(obj)
            self._emit("DELETED", rtype, obj, previous=before)
            return copy.deepcopy(obj)

    def snapshot(
        self, rtype: ResourceType, namespace: str | None, resource_version: int
    ) -> builtins.list[tuple[tuple[str, str], Obj]]:
        """The objects of a type as they were at `resource_version` (sorted by key, not
        copied: do not mutate), rebuilt from the history by undoing later changes. Gone when
        the history no longer reaches back that far; TooLarge past the current version."""
        with self.lock:
            if resource_version > self._rv:
                raise TooLarge(f"Too large resource version: {resource_version}")
            oldest = self._history[0].resource_version - 1 if self._history else self._rv
            if resource_version < oldest:
                raise Gone("The resourceVersion for the provided list is too old.")
            objects = {
                key: obj
                for key, obj in self._by_type.get(rtype, {}).items()
                if namespace is None or key[0] == namespace
            }
            for event in reversed(self._history):
                if event.resource_version <= resource_version:
                    break
                if event.rtype != rtype:
                    continue
                meta = event.object["metadata"]
                key = (meta.get("namespace", "") if rtype.namespaced else "", meta["name"])
                if namespace is not None and key[0] != namespace:
                    continue
                if event.type == "ADDED":
                    objects.pop(key, None)
                elif event.type in ("MODIFIED", "DELETED") and event.previous is not None:
                    objects[key] = event.previous
        return sorted(objects.items(), key=lambda pair: pair[0])

    # -- watch ---------------------------------------------------------------------------
    def events_since(
        self, rtype: ResourceType, namespace: str | None, resource_version: int
    ) -> builtins.list[WatchEvent]:
        """History after a resourceVersion; Gone if that version is older than the history."""
        with self.lock:
            if self._history and resource_version < self._history[0].resource_version - 1:
                raise Gone(
                    f"too old resource version: {resource_version} "
                    f"({self._history[0].resource_version - 1})"
                )
            return [
                e
                for e in self._history
                if e.resource_version > resource_version
                and e.rtype == rtype
                and (namespace is None or e.object["metadata"].get("namespace") == namespace)
            ]

    def subscribe(
        self, rtype: ResourceType, namespace: str | None, callback: Callable[[WatchEvent], None]
    ) -> Callable[[], None]:
        """Call `callback` for each future event of that type; returns an unsubscribe function.

        Callbacks run under the store lock: they must only hand the event off (e.g. to a queue).
        """
        watcher = _Watcher(rtype, namespace, callback)
        with self.lock:
            self._watchers.append(watcher)

        def unsubscribe() -> None:
            with self.lock:
                if watcher in self._watchers:
                    self._watchers.remove(watcher)

        return unsubscribe

    def compact(self) -> None:
        """Forget all watch history (fault injection: every older watch gets 410 Gone)."""
        with self.lock:
            self._rv += 1
            self._history.clear()
            self._history.append(WatchEvent("BOOKMARK", NAMESPACES, {"metadata": {}}, self._rv))

    # -- internals -----------------------------------------------------------------------
    def _stamp(self, obj: Obj) -> None:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)

    def _emit(self, kind: str, rtype: ResourceType, obj: Obj, previous: Obj | None = None) -> None:
        event = WatchEvent(kind, rtype, copy.deepcopy(obj), self._rv, previous)
        self._type_rv[rtype] = self._rv
        self._history.append(event)
        while len(self._history) > self.history_size:
            self._history.popleft()
        namespace = obj["metadata"].get("namespace")
        for watcher in list(self._watchers):
            if watcher.rtype == rtype and (
                watcher.namespace is None or watcher.namespace == namespace
            ):
                watcher.callback(event)
