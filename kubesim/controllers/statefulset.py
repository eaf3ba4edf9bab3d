"""StatefulSet controller (kube-controller-manager 1.28, pkg/controller/statefulset).

Pods `<set>-<ordinal>` (from `spec.ordinals.start`) with a stable name: a deleted or failed pod
comes back under the same name with a new uid. `OrderedReady` creates ordinal N only once every
lower one is Running and Ready and scales down from the highest ordinal one at a time;
`Parallel` creates and deletes all at once. Each `volumeClaimTemplates` entry becomes a claim
`<template>-<set>-<ordinal>` created with the pod (and kept when it goes). Revisions are
ControllerRevisions (`kubesim.controllers.revisions`); the pods carry their revision's name in
`controller-revision-hash`. `RollingUpdate` deletes the highest-ordinal pod not at the update
revision, one at a time, waiting for each replacement to be Running and Ready, down to
`partition`; `OnDelete` replaces only pods someone deletes. Status as the controller writes it:
replicas, readyReplicas, currentReplicas, updatedReplicas, currentRevision, updateRevision,
collisionCount, availableReplicas, observedGeneration.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from kubesim.controllers.base import (
    Context,
    delete_pod,
    is_terminating,
    owned_by,
    owner_reference,
    pod_is_available,
    pod_is_ready,
    write_status,
)
from kubesim.controllers.events import Source
from kubesim.controllers.revisions import (
    STS_HASH_LABEL,
    revision_template,
    sync_revisions,
    truncate_history,
)
from kubesim.store import PODS, PVCS, STATEFULSETS, AlreadyExists, NotFound, Obj

try:  # the API server's defaulting, so controller-made pods look like client-made ones
    from kubesim.api.defaults import apply_defaults, initial_status
except ImportError:  # pragma: no cover - the API package is optional for the controllers
    apply_defaults = None  # type: ignore[assignment]
    initial_status = None  # type: ignore[assignment]

STATEFULSET = Source("statefulset-controller")
REVISION_LABEL = "controller-revision-hash"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
_ORDINAL = re.compile(r"^(.*)-([0-9]+)$")


def ordinal_of(pod: Obj, set_name: str) -> int | None:
    """getParentNameAndOrdinal: the ordinal when the pod's name is `<set>-<n>`."""
    match = _ORDINAL.match(pod["metadata"]["name"])
    if match is None or match.group(1) != set_name:
        return None
    return int(match.group(2))


def running_and_ready(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and pod_is_ready(pod)


def _terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Failed", "Succeeded")


def claim_name(template: Obj, set_name: str, ordinal: int) -> str:
    return f"{(template.get('metadata') or {}).get('name', '')}-{set_name}-{ordinal}"


def new_claim(sts: Obj, template: Obj, ordinal: int) -> Obj:
    """The PersistentVolumeClaim a claim template gives one ordinal (getPersistentVolumeClaims):
    the template's spec, its labels plus the set's matchLabels, no owner while the retention
    policy retains it (the default)."""
    tmeta = template.get("metadata") or {}
    spec = sts.get("spec") or {}
    labels = dict(tmeta.get("labels") or {})
    labels.update(((spec.get("selector") or {}).get("matchLabels")) or {})
    meta: Obj = {
        "name": claim_name(template, sts["metadata"]["name"], ordinal),
        "namespace": sts["metadata"].get("namespace", "default"),
    }
    if labels:
        meta["labels"] = labels
    if tmeta.get("annotations"):
        meta["annotations"] = dict(tmeta["annotations"])
    policy = spec.get("persistentVolumeClaimRetentionPolicy") or {}
    if policy.get("whenDeleted") == "Delete":
        ref = owner_reference(sts)
        ref.pop("blockOwnerDeletion", None)
        ref["controller"] = False
        meta["ownerReferences"] = [ref]
    claim_spec = copy.deepcopy(template.get("spec") or {})
    claim_spec.setdefault("volumeMode", "Filesystem")
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": meta,
        "spec": claim_spec,
        "status": {"phase": "Pending"},
    }


def create_claims(ctx: Context, sts: Obj, ordinal: int) -> list[str]:
    """Create the ordinal's missing claims; the names of those created. The one place claims
    are made, so a storage-class-aware binder only has to handle what lands in the store."""
    created: list[str] = []
    namespace = sts["metadata"].get("namespace", "")
    for template in (sts.get("spec") or {}).get("volumeClaimTemplates") or []:
        name = claim_name(template, sts["metadata"]["name"], ordinal)
        if ctx.store.peek(PVCS, namespace, name) is not None:
            continue
        try:
            ctx.store.create(PVCS, new_claim(sts, template, ordinal))
        except AlreadyExists:
            continue
        created.append(name)
    return created


class StatefulSetController:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def next_due(self) -> float | None:
        return None  # minReadySeconds is picked up on the kubelet's ticks

    def reconcile(self, now: float) -> bool:
        changed = False
        pods_by_ns: dict[str, list[Obj]] = {}
        for pod in self.ctx.store.iter_refs(PODS):
            pods_by_ns.setdefault(pod["metadata"].get("namespace", ""), []).append(pod)
        for sts in list(self.ctx.store.iter_refs(STATEFULSETS)):
            if is_terminating(sts):
                continue
            namespace = sts["metadata"].get("namespace", "")
            owned = [p for p in pods_by_ns.get(namespace, []) if owned_by(p, sts)]
            changed |= self._sync(sts, owned, now)
        return changed

    # -- one set ---------------------------------------------------------------------------
    def _sync(self, sts: Obj, owned: list[Obj], now: float) -> bool:
        before = self.ctx.store.resource_version
        update_rev, revisions, collisions = sync_revisions(self.ctx, sts, STS_HASH_LABEL)
        wanted = (sts.get("status") or {}).get("currentRevision")
        current_rev = next((r for r in revisions if r["metadata"]["name"] == wanted), update_rev)
        self._manage(sts, owned, current_rev, update_rev, now)
        pods = self._pods(sts)
        live = {current_rev["metadata"]["name"], update_rev["metadata"]["name"]}
        live |= {str((p["metadata"].get("labels") or {}).get(REVISION_LABEL)) for p in pods}
        truncate_history(self.ctx, sts, revisions, live)
        self._status(sts, pods, current_rev, update_rev, collisions, now)
        return self.ctx.store.resource_version != before

    def _pods(self, sts: Obj) -> list[Obj]:
        namespace = sts["metadata"].get("namespace", "")
        return [p for p in self.ctx.store.iter_refs(PODS, namespace) if owned_by(p, sts)]

    def _manage(
        self, sts: Obj, owned: list[Obj], current_rev: Obj, update_rev: Obj, now: float
    ) -> None:
        spec = sts.get("spec") or {}
        name = sts["metadata"]["name"]
        replicas = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
        start = int((spec.get("ordinals") or {}).get("start") or 0)
        monotonic = spec.get("podManagementPolicy") != "Parallel"
        min_ready = int(spec.get("minReadySeconds") or 0)
        slots: dict[int, Obj | None] = dict.fromkeys(range(start, start + replicas))
        condemned: list[tuple[int, Obj]] = []
        for member in owned:
            index = ordinal_of(member, name)
            if index is None:
                continue
            if index in slots:
                slots[index] = member
            else:
                condemned.append((index, member))
        condemned.sort(key=lambda pair: -pair[0])  # highest ordinal first

        def healthy(pod: Obj | None) -> bool:
            return pod is not None and running_and_ready(pod) and not is_terminating(pod)

        first_unhealthy = next(
            (p for p in [*slots.values(), *(p for _, p in condemned)] if not healthy(p)), None
        )
        # 1. every replica: replace failed ones, create missing ones, in ordinal order
        for ordinal in sorted(slots):
            pod = slots[ordinal]
            if pod is not None and _terminal(pod) and not is_terminating(pod):
                self._delete(sts, pod, now, immediate=True)
                pod = slots[ordinal] = None
            if pod is None:
                self._create(sts, ordinal, current_rev, update_rev, now)
                if monotonic:
                    return
                continue
            if monotonic and (
                is_terminating(pod)
                or not running_and_ready(pod)
                or not pod_is_available(self.ctx, pod, min_ready, now)
            ):
                return
            if create_claims(self.ctx, sts, ordinal):  # a claim deleted under a running pod
                continue
        # 2. scale down: the highest ordinal first
        for _ordinal, doomed in condemned:
            if is_terminating(doomed):
                if monotonic:
                    return
                continue
            if monotonic and not running_and_ready(doomed) and doomed is not first_unhealthy:
                return
            self._delete(sts, doomed, now)
            if monotonic:
                return
        # 3. rolling update: the highest ordinal not at the update revision, one at a time
        strategy = spec.get("updateStrategy") or {}
        if strategy.get("type") == "OnDelete":
            return
        rolling = strategy.get("rollingUpdate")
        partition = int(rolling.get("partition") or 0) if isinstance(rolling, dict) else 0
        update_name = update_rev["metadata"]["name"]
        for ordinal in sorted(slots, reverse=True):
            if ordinal - start < partition:
                break
            target = slots[ordinal]
            if target is None:
                return
            revision = (target["metadata"].get("labels") or {}).get(REVISION_LABEL)
            if revision != update_name and not is_terminating(target):
                self._delete(sts, target, now)
                return
            if not healthy(target):
                return

    def _template_for(
        self, sts: Obj, ordinal: int, current_rev: Obj, update_rev: Obj
    ) -> tuple[Obj, str]:
        """newVersionedStatefulSetPod: below the partition, the current revision's template."""
        spec = sts.get("spec") or {}
        strategy = spec.get("updateStrategy") or {}
        start = int((spec.get("ordinals") or {}).get("start") or 0)
        rolling = strategy.get("rollingUpdate")
        current_count = int((sts.get("status") or {}).get("currentReplicas") or 0)
        if strategy.get("type", "RollingUpdate") == "RollingUpdate" and (
            (not isinstance(rolling, dict) and ordinal < start + current_count)
            or (isinstance(rolling, dict) and ordinal < start + int(rolling.get("partition") or 0))
        ):
            return revision_template(current_rev), current_rev["metadata"]["name"]
        return copy.deepcopy(spec.get("template") or {}), update_rev["metadata"]["name"]

    def _create(
        self, sts: Obj, ordinal: int, current_rev: Obj, update_rev: Obj, now: float
    ) -> None:
        template, revision = self._template_for(sts, ordinal, current_rev, update_rev)
        set_name = sts["metadata"]["name"]
        name = f"{set_name}-{ordinal}"
        for claim in create_claims(self.ctx, sts, ordinal):
            self.ctx.events.emit(
                sts,
                "Normal",
                "SuccessfulCreate",
                f"create Claim {claim} Pod {name} in StatefulSet {set_name} success",
                STATEFULSET,
                now,
            )
        tmeta = template.get("metadata") or {}
        labels = dict(tmeta.get("labels") or {})
        labels[POD_NAME_LABEL] = name
        labels[POD_INDEX_LABEL] = str(ordinal)
        labels[REVISION_LABEL] = revision
        meta: dict[str, Any] = {
            "name": name,
            "generateName": f"{set_name}-",
            "namespace": sts["metadata"].get("namespace", "default"),
            "labels": labels,
            "ownerReferences": [owner_reference(sts)],
        }
        if tmeta.get("annotations"):
            meta["annotations"] = dict(tmeta["annotations"])
        spec = copy.deepcopy(template.get("spec") or {})
        claims = [
            {
                "name": (t.get("metadata") or {}).get("name", ""),
                "persistentVolumeClaim": {"claimName": claim_name(t, set_name, ordinal)},
            }
            for t in (sts.get("spec") or {}).get("volumeClaimTemplates") or []
        ]
        claimed = {c["name"] for c in claims}
        others = [v for v in spec.get("volumes") or [] if v.get("name") not in claimed]
        if claims or others:
            spec["volumes"] = claims + others
        spec["hostname"] = name
        service = (sts.get("spec") or {}).get("serviceName")
        if service:
            spec["subdomain"] = service
        pod: Obj = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
        if apply_defaults is not None and initial_status is not None:
            apply_defaults("Pod", pod, self.ctx.kube)
            pod["status"] = initial_status("Pod", pod) or {"phase": "Pending"}
        else:
            pod["status"] = {"phase": "Pending"}
        try:
            self.ctx.store.create(PODS, pod)
        except AlreadyExists:
            return  # the old pod of that name is still going
        self.ctx.events.emit(
            sts,
            "Normal",
            "SuccessfulCreate",
            f"create Pod {name} in StatefulSet {set_name} successful",
            STATEFULSET,
            now,
        )

    def _delete(self, sts: Obj, pod: Obj, now: float, immediate: bool = False) -> None:
        meta = pod["metadata"]
        if immediate:  # a finished pod goes at once, as the API server deletes it
            try:
                self.ctx.store.delete(PODS, meta.get("namespace", ""), meta["name"])
            except NotFound:
                return
            self.ctx.logs.drop_pod(meta.get("namespace", ""), meta["name"])
        elif not delete_pod(self.ctx, pod, now):
            return
        self.ctx.events.emit(
            sts,
            "Normal",
            "SuccessfulDelete",
            f"delete Pod {meta['name']} in StatefulSet {sts['metadata']['name']} successful",
            STATEFULSET,
            now,
        )

    def _status(
        self,
        sts: Obj,
        pods: list[Obj],
        current_rev: Obj,
        update_rev: Obj,
        collisions: int,
        now: float,
    ) -> bool:
        spec = sts.get("spec") or {}
        min_ready = int(spec.get("minReadySeconds") or 0)
        name = sts["metadata"]["name"]
        members = [p for p in pods if ordinal_of(p, name) is not None]
        current_name = current_rev["metadata"]["name"]
        update_name = update_rev["metadata"]["name"]
        replicas = len(members)
        ready = sum(1 for p in members if running_and_ready(p))
        available = sum(
            1
            for p in members
            if running_and_ready(p) and pod_is_available(self.ctx, p, min_ready, now)
        )
        alive = [p for p in members if not is_terminating(p)]

        def at(revision: str) -> int:
            return sum(
                1
                for p in alive
                if (p["metadata"].get("labels") or {}).get(REVISION_LABEL) == revision
            )

        current, updated = at(current_name), at(update_name)
        rolling = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"
        if rolling and updated == replicas and ready == replicas:
            current, current_name = updated, update_name
        status: dict[str, Any] = {}
        generation = sts["metadata"].get("generation")
        if generation:
            status["observedGeneration"] = generation
        status["replicas"] = replicas
        for key, value in (
            ("readyReplicas", ready),
            ("currentReplicas", current),
            ("updatedReplicas", updated),
        ):
            if value:
                status[key] = value
        status["currentRevision"] = current_name
        status["updateRevision"] = update_name
        status["collisionCount"] = collisions
        status["availableReplicas"] = available
        old = sts.get("status") or {}
        if old.get("conditions"):
            status["conditions"] = old["conditions"]
        fresh = self.ctx.store.peek(
            STATEFULSETS, sts["metadata"].get("namespace", ""), sts["metadata"]["name"]
        )
        if fresh is None or fresh["metadata"].get("uid") != sts["metadata"].get("uid"):
            return False
        return write_status(self.ctx, STATEFULSETS, fresh, status)
