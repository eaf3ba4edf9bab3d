"""What really happened in the simulated cluster during a run: writes, spec changes, health.

`WriteWatcher` subscribes to kubesim's store for Deployment and Pod changes while the run goes
on; afterwards `classify_writes` turns every successful write request kubesim served into the
action it amounts to, by looking at the spec change it made, not at what the agent reported.
"""

from __future__ import annotations

import copy
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from evals.scoring import ObservedWrite, quantity_bytes

Obj = dict[str, Any]
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
HASH_LABEL = "pod-template-hash"


@dataclass
class SpecChange:
    before: Obj
    after: Obj
    seq: int  # order among everything the watcher saw


@dataclass
class WriteWatcher:
    """Deployment spec changes (in order) and every pod and ReplicaSet seen during a run."""

    sim: Any
    changes: dict[tuple[str, str], list[SpecChange]] = field(
        default_factory=lambda: defaultdict(list)
    )
    pods: dict[tuple[str, str], Obj] = field(default_factory=dict)
    replicasets: dict[tuple[str, str], Obj] = field(default_factory=dict)
    deployments: dict[tuple[str, str], Obj] = field(default_factory=dict)
    # StatefulSet and DaemonSet spec changes, keyed (kind, namespace, name), and their
    # ControllerRevisions with when each was first seen: what a set's rollback restores.
    set_changes: dict[tuple[str, str, str], list[SpecChange]] = field(
        default_factory=lambda: defaultdict(list)
    )
    revisions: dict[tuple[str, str], Obj] = field(default_factory=dict)
    revision_seen: dict[tuple[str, str], int] = field(default_factory=dict)
    _set_specs: dict[tuple[str, str, str], Obj] = field(default_factory=dict)
    rs_seen: dict[tuple[str, str], int] = field(default_factory=dict)  # when first seen
    # Pods whose container resources changed in place (pods/resize), in order, and what the
    # kubelet made of it: see `ResizeSeen`.
    resized: dict[tuple[str, str], list[ResizeSeen]] = field(
        default_factory=lambda: defaultdict(list)
    )
    _pod_limits: dict[tuple[str, str], dict[str, float | None]] = field(default_factory=dict)
    _seq: int = 0
    _specs: dict[tuple[str, str], Obj] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _unsubscribe: list[Any] = field(default_factory=list)

    def start(self) -> None:
        from kubesim.store import (
            CONTROLLERREVISIONS,
            DAEMONSETS,
            DEPLOYMENTS,
            PODS,
            REPLICASETS,
            STATEFULSETS,
        )

        store = self.sim.store
        for rtype in (STATEFULSETS, DAEMONSETS):
            for obj in store.list(rtype):
                ns, name = _key(obj)
                self._set_specs[(rtype.kind, ns, name)] = copy.deepcopy(obj.get("spec") or {})
        for obj in store.list(CONTROLLERREVISIONS):
            self.revisions[_key(obj)] = obj
            self.revision_seen[_key(obj)] = 0
        for obj in store.list(DEPLOYMENTS):
            key = _key(obj)
            self._specs[key] = copy.deepcopy(obj.get("spec") or {})
            self.deployments[key] = obj
        for obj in store.list(PODS):
            self.pods[_key(obj)] = obj
            self._pod_limits[_key(obj)] = _limits(obj)
        for obj in store.list(REPLICASETS):
            self.replicasets[_key(obj)] = obj
            self.rs_seen[_key(obj)] = 0
        self._unsubscribe = [
            store.subscribe(DEPLOYMENTS, None, self._on_deployment),
            store.subscribe(PODS, None, self._on_pod),
            store.subscribe(REPLICASETS, None, self._on_rs),
            store.subscribe(STATEFULSETS, None, self._on_set),
            store.subscribe(DAEMONSETS, None, self._on_set),
            store.subscribe(CONTROLLERREVISIONS, None, self._on_revision),
        ]

    def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []

    # Store callbacks run under the store lock: record and return.
    def _on_deployment(self, event: Any) -> None:
        obj = event.object
        key = _key(obj)
        with self._lock:
            if event.type == "DELETED":
                return
            spec = obj.get("spec") or {}
            before = self._specs.get(key)
            self._seq += 1
            if before is not None and before != spec:
                change = SpecChange(copy.deepcopy(before), copy.deepcopy(spec), self._seq)
                self.changes[key].append(change)
            self._specs[key] = copy.deepcopy(spec)
            self.deployments.setdefault(key, obj)

    def _on_set(self, event: Any) -> None:
        obj = event.object
        if event.type == "DELETED":
            return
        ns, name = _key(obj)
        key = (str(obj.get("kind", "")), ns, name)
        with self._lock:
            spec = obj.get("spec") or {}
            before = self._set_specs.get(key)
            self._seq += 1
            if before is not None and before != spec:
                change = SpecChange(copy.deepcopy(before), copy.deepcopy(spec), self._seq)
                self.set_changes[key].append(change)
            self._set_specs[key] = copy.deepcopy(spec)

    def _on_revision(self, event: Any) -> None:
        if event.type != "DELETED":
            with self._lock:
                self._seq += 1
                key = _key(event.object)
                self.revisions[key] = event.object
                self.revision_seen.setdefault(key, self._seq)

    def _on_pod(self, event: Any) -> None:
        obj = event.object
        key = _key(obj)
        with self._lock:
            if event.type == "ADDED":
                self.pods.setdefault(key, obj)
                self._pod_limits[key] = _limits(obj)
                return
            if event.type == "DELETED":
                self._pod_limits.pop(key, None)
                return
            limits = _limits(obj)
            before = self._pod_limits.get(key)
            self._pod_limits[key] = limits
            if before is not None and before != limits:
                self.resized[key].append(
                    ResizeSeen(
                        key[1],
                        before,
                        limits,
                        _restarts(obj),
                        _running(obj),
                    )
                )
            for seen in self.resized.get(key) or []:
                seen.observe(obj)

    def _on_rs(self, event: Any) -> None:
        if event.type != "DELETED":
            with self._lock:
                self._seq += 1
                key = _key(event.object)
                self.replicasets[key] = event.object
                self.rs_seen.setdefault(key, self._seq)


@dataclass
class ResizeSeen:
    """One in-place change of a pod's container memory limits, and what followed: the limits
    the kubelet reports running (`status.containerStatuses[].resources`) and the restarts."""

    pod: str
    before: dict[str, float | None]  # container -> memory limit (bytes)
    after: dict[str, float | None]
    restarts_at_resize: int
    running_at_resize: bool  # every container was running when the resize came
    restarts_after: int = 0
    running_limits: dict[str, float | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.restarts_after = self.restarts_at_resize

    def observe(self, pod: Obj) -> None:
        self.restarts_after = _restarts(pod)
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            limit = ((status.get("resources") or {}).get("limits") or {}).get("memory")
            self.running_limits[str(status.get("name"))] = quantity_bytes(limit)

    @property
    def raised(self) -> bool:
        """Only memory limits changed, and none went down or away."""
        return set(self.before) == set(self.after) and all(
            old is None or (new is not None and new >= old)
            for name, old in self.before.items()
            for new in [self.after.get(name)]
        )

    @property
    def in_place(self) -> bool:
        """The kubelet runs the new limits, and the resize restarted nothing (a container in
        back-off when it came may start later: that restart is the back-off's)."""
        actuated = all(
            self.running_limits.get(name) == limit
            for name, limit in self.after.items()
            if limit != self.before.get(name)
        )
        restarted = self.running_at_resize and self.restarts_after > self.restarts_at_resize
        return actuated and not restarted

    def to_dict(self) -> dict[str, Any]:
        changed = [n for n, v in self.after.items() if v != self.before.get(n)]
        name = changed[0] if changed else next(iter(self.after), "")
        return {
            "pod": self.pod,
            "container": name,
            "limit": _fmt_mi(self.after.get(name)),
            "previous_limit": _fmt_mi(self.before.get(name)),
            "running_limit": _fmt_mi(self.running_limits.get(name)),
            "restarts_at_resize": self.restarts_at_resize,
            "restarts_after": self.restarts_after,
            "in_place": self.in_place,
        }


def _fmt_mi(value: float | None) -> str | None:
    return None if value is None else f"{value / 2**20:g}Mi"


def _limits(pod: Obj) -> dict[str, float | None]:
    return {
        str(c.get("name")): quantity_bytes(
            ((c.get("resources") or {}).get("limits") or {}).get("memory")
        )
        for c in (pod.get("spec") or {}).get("containers") or []
    }


def _restarts(pod: Obj) -> int:
    return sum(
        int(s.get("restartCount") or 0)
        for s in (pod.get("status") or {}).get("containerStatuses") or []
    )


def _running(pod: Obj) -> bool:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return bool(statuses) and all("running" in (s.get("state") or {}) for s in statuses)


def _key(obj: Obj) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace", "")), str(meta.get("name", ""))


def _controller(obj: Obj) -> tuple[str, str] | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("kind")), str(ref.get("name"))
    return None


def workload_of_pod(watcher: WriteWatcher, namespace: str, pod: str) -> str:
    """ "Deployment/name", "ReplicaSet/name" or "Pod/name" for a pod seen during the run."""
    obj = watcher.pods.get((namespace, pod))
    owner = _controller(obj) if obj else None
    if owner is None:
        return f"Pod/{pod}"
    kind, name = owner
    if kind == "ReplicaSet":
        rs = watcher.replicasets.get((namespace, name))
        top = _controller(rs) if rs else None
        if top is not None:
            return f"{top[0]}/{top[1]}"
    return f"{kind}/{name}"


def _normal_template(template: Obj) -> Obj:
    out = copy.deepcopy(template)
    meta = out.setdefault("metadata", {})
    meta.pop("creationTimestamp", None)
    labels = dict(meta.get("labels") or {})
    labels.pop(HASH_LABEL, None)
    meta["labels"] = labels
    if not meta.get("annotations"):
        meta.pop("annotations", None)
    return out


def _memory_only(before: Obj, after: Obj) -> tuple[bool, bool]:
    """(only memory resources differ, no memory limit went down or away)."""
    b, a = _normal_template(before), _normal_template(after)
    b_containers = (b.get("spec") or {}).get("containers") or []
    a_containers = (a.get("spec") or {}).get("containers") or []
    if len(b_containers) != len(a_containers):
        return False, False
    raised = True
    for bc, ac in zip(b_containers, a_containers, strict=True):
        before_limit = quantity_bytes(
            ((bc.get("resources") or {}).get("limits") or {}).get("memory")
        )
        after_limit = quantity_bytes(
            ((ac.get("resources") or {}).get("limits") or {}).get("memory")
        )
        if before_limit is not None and (after_limit is None or after_limit < before_limit):
            raised = False
        for container in (bc, ac):
            resources = container.setdefault("resources", {})
            for side in ("limits", "requests"):
                values = resources.get(side)
                if isinstance(values, dict):
                    values.pop("memory", None)
                    if not values:
                        resources.pop(side)
    return b == a, raised


def classify_change(change: SpecChange, revisions: list[Obj]) -> tuple[str, str]:
    """(action, detail) for one Deployment spec change."""
    before, after = change.before, change.after
    if before.get("template") != after.get("template"):
        new = _normal_template(after.get("template") or {})
        old = _normal_template(before.get("template") or {})
        for rs in revisions:
            template = _normal_template((rs.get("spec") or {}).get("template") or {})
            if template == new and template != old:
                revision = (rs["metadata"].get("annotations") or {}).get(
                    "deployment.kubernetes.io/revision", "?"
                )
                return "rollback_deployment", f"to revision {revision}"
        only_memory, raised = _memory_only(
            before.get("template") or {}, after.get("template") or {}
        )
        if only_memory and raised:
            return "increase_memory_limit", "memory limit raised"
        if only_memory:
            return "other_write", "memory limit lowered or removed"
        return "other_write", "pod template changed in a way no action makes"
    old_replicas = int(before.get("replicas", 1) or 0)
    new_replicas = int(after.get("replicas", 1) or 0)
    if new_replicas != old_replicas:
        if new_replicas == 0:
            return "scale_to_zero", f"replicas {old_replicas} -> 0"
        if new_replicas < old_replicas:
            return "scale_down_deployment", f"replicas {old_replicas} -> {new_replicas}"
        return "other_write", f"scaled up {old_replicas} -> {new_replicas}"
    return "other_write", "deployment spec changed"


def _name_from_path(path: str, resource: str) -> str:
    parts = [p for p in path.split("/") if p]
    if resource in parts:
        i = parts.index(resource)
        if i + 1 < len(parts):
            return parts[i + 1]
    return ""


def _was_evicted(pod: Obj | None) -> bool:
    status = (pod or {}).get("status") or {}
    return status.get("phase") == "Failed" and status.get("reason") == "Evicted"


_SET_KINDS = {"statefulsets": "StatefulSet", "daemonsets": "DaemonSet"}


def _set_revisions(
    watcher: WriteWatcher, kind: str, ns: str, name: str, change: SpecChange
) -> list[Obj]:
    """A set's ControllerRevisions that existed before the change, shaped as ReplicaSets (the
    pod template each restores, its revision number) for `classify_change`."""
    out = []
    for key, revision in watcher.revisions.items():
        if key[0] != ns or _controller(revision) != (kind, name):
            continue
        if watcher.revision_seen.get(key, 0) >= change.seq:
            continue
        data = (revision.get("data") or {}).get("spec") or {}
        template = copy.deepcopy(data.get("template") or {})
        template.pop("$patch", None)
        number = str(revision.get("revision", "?"))
        out.append(
            {
                "metadata": {"annotations": {"deployment.kubernetes.io/revision": number}},
                "spec": {"template": template},
            }
        )
    return out


@dataclass
class Classified:
    writes: list[ObservedWrite]
    failed: list[str]
    metadata_only: list[str]
    resizes: list[dict[str, Any]] = field(default_factory=list)


def classify_writes(watcher: WriteWatcher, requests: list[Any], target_workload: str) -> Classified:
    """Every write request kubesim served, as the action it amounts to."""
    writes: list[ObservedWrite] = []
    failed: list[str] = []
    metadata_only: list[str] = []
    pending = {key: list(items) for key, items in watcher.changes.items()}
    resizes = {key: list(items) for key, items in watcher.resized.items()}
    set_queues = {key: list(items) for key, items in watcher.set_changes.items()}
    resized: list[dict[str, Any]] = []
    for record in requests:
        if record.method not in WRITE_METHODS or record.resource == "events":
            continue
        if "dryRun" in (record.query or ""):
            continue
        line = f"{record.method} {record.path}"
        if not 200 <= int(record.status) < 300:
            failed.append(f"{line} -> {record.status}")
            continue
        name = _name_from_path(record.path, record.resource)
        ns = record.namespace
        if record.resource == "pods":
            workload = workload_of_pod(watcher, ns, name)
            if record.subresource == "eviction":
                action = "delete_pod"
            elif record.subresource == "resize" and record.method in ("PATCH", "PUT"):
                seen_queue = resizes.get((ns, name)) or []
                if not seen_queue:
                    metadata_only.append(line)  # served, changed nothing
                    continue
                seen = seen_queue.pop(0)
                resized.append(seen.to_dict())
                action = "increase_memory_limit" if seen.raised else "other_write"
            elif record.method == "DELETE" and not record.subresource:
                action = (
                    "delete_evicted_pod"
                    if _was_evicted(watcher.pods.get((ns, name)))
                    else "delete_pod"
                )
            else:
                action = "other_write"
            detail = (
                "" if workload == target_workload else f"pod of {workload}, not {target_workload}"
            )
            if detail:
                action = "other_write"
            writes.append(ObservedWrite(action, "Pod", ns, name, line, detail))
            continue
        if record.resource == "deployments" and record.method in ("PATCH", "PUT"):
            queue = pending.get((ns, name)) or []
            if not queue:
                metadata_only.append(line)
                continue
            change = queue.pop(0)
            # Only ReplicaSets that existed before the change can be what it rolled back to.
            revisions = [
                rs
                for key, rs in watcher.replicasets.items()
                if key[0] == ns
                and _controller(rs) == ("Deployment", name)
                and watcher.rs_seen.get(key, 0) < change.seq
            ]
            action, detail = classify_change(change, revisions)
            if f"Deployment/{name}" != target_workload:
                detail = f"deployment {name} is not the incident's workload {target_workload}"
                action = "other_write"
            writes.append(ObservedWrite(action, "Deployment", ns, name, line, detail))
            continue
        if record.resource in _SET_KINDS and record.method in ("PATCH", "PUT"):
            kind = _SET_KINDS[record.resource]
            queue = set_queues.get((kind, ns, name)) or []
            if not queue:
                metadata_only.append(line)
                continue
            change = queue.pop(0)
            action, detail = classify_change(
                change, _set_revisions(watcher, kind, ns, name, change)
            )
            if f"{kind}/{name}" != target_workload:
                detail = f"{kind} {name} is not the incident's workload {target_workload}"
                action = "other_write"
            writes.append(ObservedWrite(action, kind, ns, name, line, detail))
            continue
        kind = record.resource.rstrip("s").capitalize() if record.resource else "Object"
        action = f"delete_{record.resource}" if record.method == "DELETE" else "other_write"
        writes.append(
            ObservedWrite(action, kind, ns, name, line, f"{record.method} on {record.resource}")
        )
    return Classified(writes, failed, metadata_only, resized)


def restart_counts(sim: Any, namespace: str) -> dict[str, int]:
    """Total container restarts per pod name in a namespace, now."""
    from kubesim.store import PODS

    return {
        p["metadata"]["name"]: sum(
            int(s.get("restartCount") or 0)
            for s in (p.get("status") or {}).get("containerStatuses") or []
        )
        for p in sim.store.list(PODS, namespace)
    }


def workload_healthy(
    sim: Any, namespace: str, workload: str, restarts_before: dict[str, int] | None = None
) -> bool:
    """Every pod of the workload Running with all containers ready, none Pending or Failed,
    as many as the Deployment wants, and (given the counts from before a watch window) no
    container restarted since: a pod that crashes and comes back is not healed."""
    from kubesim.store import DEPLOYMENTS, PODS, REPLICASETS

    kind, _, name = workload.partition("/")
    pods = sim.store.list(PODS, namespace)
    if kind == "Pod":
        mine = [p for p in pods if p["metadata"]["name"] == name]
        wanted = 1
    elif kind == "Deployment":
        deploy = sim.store.find(DEPLOYMENTS, namespace, name)
        if deploy is None:
            return False
        rs_names = {
            rs["metadata"]["name"]
            for rs in sim.store.list(REPLICASETS, namespace)
            if _controller(rs) == ("Deployment", name)
        }
        mine = [p for p in pods if (_controller(p) or ("", ""))[1] in rs_names]
        wanted = int((deploy.get("spec") or {}).get("replicas", 1) or 0)
    else:
        mine = [p for p in pods if _controller(p) == (kind, name)]
        wanted = len(mine)
    live = [p for p in mine if not (p.get("metadata") or {}).get("deletionTimestamp")]
    if restarts_before is not None:
        now = restart_counts(sim, namespace)
        for pod in live:
            pod_name = pod["metadata"]["name"]
            if now.get(pod_name, 0) > restarts_before.get(pod_name, 0):
                return False
    ready = 0
    for pod in live:
        status = pod.get("status") or {}
        if status.get("phase") != "Running":
            return False
        statuses = status.get("containerStatuses") or []
        if not statuses or not all(s.get("ready") for s in statuses):
            return False
        ready += 1
    return ready >= wanted
