"""Which workload a pod belongs to: the top of its owner chain, for `list_unhealthy_pods`.

A pod names its nearest owner. A ReplicaSet's or a Job's own owner (a Deployment, a CronJob)
is one read away; the answer is remembered by the owner's uid (a recreated object has a new
one), so a poll costs at most one list of ReplicaSets per namespace and one read per Job
the first time they are seen, and nothing after that.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from kubemedic_contract.workload import WorkloadRef
from mcp_server.gateway import Gateway, NotFound
from mcp_server.pod_projection import JSON, controller_ref

# Kinds whose controller may itself be owned: Deployment -> ReplicaSet, CronJob -> Job.
_OWNED_KINDS = frozenset({"ReplicaSet", "Job"})
REMEMBERED_LIMIT = 20_000


@dataclass(frozen=True, slots=True)
class Owner:
    """A pod's nearest owner as the pod names it (kind None: a bare pod)."""

    namespace: str
    pod_name: str
    kind: str | None
    name: str | None
    uid: str | None


def owner_of(pod: JSON) -> Owner:
    meta = pod.get("metadata") or {}
    ref = controller_ref(pod)
    kind, name, uid = ref.get("kind"), ref.get("name"), ref.get("uid")
    return Owner(
        namespace=str(meta.get("namespace") or ""),
        pod_name=str(meta.get("name") or ""),
        kind=str(kind) if kind and name else None,
        name=str(name) if kind and name else None,
        uid=str(uid) if uid else None,
    )


def _top(obj: JSON, kind: str, name: str) -> WorkloadRef:
    """The object's controller, or the object itself when nothing controls it."""
    ref = controller_ref(obj)
    if ref.get("kind") and ref.get("name"):
        return WorkloadRef(kind=str(ref["kind"]), name=str(ref["name"]))
    return WorkloadRef(kind=kind, name=name)


class WorkloadRefs:
    """The workload of each pod, remembering what a ReplicaSet or Job is owned by."""

    def __init__(self, limit: int = REMEMBERED_LIMIT) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._known: dict[tuple[str, str, str, str], WorkloadRef] = {}

    def resolve(self, gateway: Gateway, owners: Iterable[Owner]) -> dict[str, WorkloadRef]:
        """`namespace/pod` -> its workload. Unknown ReplicaSets cost one list of their
        namespace's ReplicaSets, unknown Jobs one read each; a gone owner is its own top."""
        owners = list(owners)
        unknown = [o for o in owners if o.kind in _OWNED_KINDS and self._get(o) is None]
        for namespace in sorted({o.namespace for o in unknown if o.kind == "ReplicaSet"}):
            for rs in gateway.list_replicasets(namespace):
                meta = rs.get("metadata") or {}
                name = str(meta.get("name") or "")
                self._put(namespace, "ReplicaSet", name, str(meta.get("uid") or ""), rs)
        for owner in unknown:
            if owner.kind == "Job" and owner.name and self._get(owner) is None:
                try:
                    job = gateway.get_job(owner.namespace, owner.name)
                except NotFound:
                    continue
                meta = job.get("metadata") or {}
                self._put(owner.namespace, "Job", owner.name, str(meta.get("uid") or ""), job)
        return {f"{o.namespace}/{o.pod_name}": self._workload(o) for o in owners}

    def _workload(self, owner: Owner) -> WorkloadRef:
        if owner.kind is None or owner.name is None:
            return WorkloadRef(kind="Pod", name=owner.pod_name)
        if owner.kind in _OWNED_KINDS:
            return self._get(owner) or WorkloadRef(kind=owner.kind, name=owner.name)
        return WorkloadRef(kind=owner.kind, name=owner.name)

    def _get(self, owner: Owner) -> WorkloadRef | None:
        key = (owner.namespace, str(owner.kind), str(owner.name), owner.uid or "")
        with self._lock:
            return self._known.get(key)

    def _put(self, namespace: str, kind: str, name: str, uid: str, obj: JSON) -> None:
        with self._lock:
            if len(self._known) >= self._limit:
                self._known.clear()
            self._known[(namespace, kind, name, uid)] = _top(obj, kind, name)
