"""Deployment controller: ReplicaSets per template, revisions, rolling updates, status.

Follows kube-controller-manager 1.28 (pkg/controller/deployment): the new ReplicaSet is the one
whose template equals the Deployment's (ignoring `pod-template-hash`); reusing an older one
(`kubectl rollout undo`) gives it the next revision and records the old one in
`deployment.kubernetes.io/revision-history`; rolling updates honour maxSurge/maxUnavailable,
so a rollout stuck on a bad image keeps the old pods serving.
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any

from kubesim.controllers import events
from kubesim.controllers.base import (
    Context,
    controller_ref,
    is_terminating,
    owned_by,
    owner_reference,
    set_condition,
    write_status,
)
from kubesim.store import DEPLOYMENTS, PODS, REPLICASETS, AlreadyExists, NotFound, Obj

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
HASH_LABEL = "pod-template-hash"
# Deployment annotations that are not copied to its ReplicaSets (deployment/util).
_SKIP_ANNOTATIONS = {
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
}


def _fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for byte in data:
        h ^= byte
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def _normal_template(template: Obj) -> Obj:
    t = copy.deepcopy(template or {})
    meta = t.setdefault("metadata", {})
    labels = dict(meta.get("labels") or {})
    labels.pop(HASH_LABEL, None)
    meta["labels"] = labels
    if meta.get("creationTimestamp") is None:
        meta.pop("creationTimestamp", None)
    for key in [k for k, v in meta.items() if v in ({}, None, [])]:
        meta.pop(key)
    return t


def template_hash(template: Obj, collision_count: int | None = None) -> str:
    """pod-template-hash: FNV-32a of the template, safe-encoded (controller.ComputeHash)."""
    data = json.dumps(_normal_template(template), sort_keys=True, separators=(",", ":")).encode()
    if collision_count:
        data += str(collision_count).encode()
    return "".join("bcdfghjklmnpqrstvwxz2456789"[ord(ch) % 27] for ch in str(_fnv32a(data)))


def templates_equal(a: Obj, b: Obj) -> bool:
    return _normal_template(a) == _normal_template(b)


def revision_of(obj: Obj) -> int:
    try:
        return int(((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def resolve_intstr(value: Any, total: int, round_up: bool) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = str(value)
    if text.endswith("%"):
        scaled = float(text[:-1]) * total / 100
        return math.ceil(scaled) if round_up else math.floor(scaled)
    return int(text)


def _replicas(rs: Obj) -> int:
    value = (rs.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def _status_int(obj: Obj, key: str) -> int:
    return int((obj.get("status") or {}).get(key) or 0)


def _created(obj: Obj) -> str:
    return str(obj["metadata"].get("creationTimestamp") or "")


class DeploymentController:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._deadlines: dict[str, float] = {}

    def next_due(self) -> float | None:
        return min(self._deadlines.values(), default=None)

    def reconcile(self, now: float) -> bool:
        changed = False
        rs_by_ns: dict[str, list[Obj]] = {}
        for rs in self.ctx.store.iter_refs(REPLICASETS):
            rs_by_ns.setdefault(rs["metadata"].get("namespace", ""), []).append(rs)
        seen: set[str] = set()
        for d in list(self.ctx.store.iter_refs(DEPLOYMENTS)):
            uid = d["metadata"]["uid"]
            seen.add(uid)
            if is_terminating(d):
                continue
            owned = [
                rs for rs in rs_by_ns.get(d["metadata"].get("namespace", ""), []) if owned_by(rs, d)
            ]
            changed |= self._sync(d, owned, now)
        for uid in list(self._deadlines):
            if uid not in seen:
                del self._deadlines[uid]
        return changed

    # -- one deployment ------------------------------------------------------------------
    def _sync(self, d: Obj, owned: list[Obj], now: float) -> bool:
        spec = d.get("spec") or {}
        template = spec.get("template") or {}
        new_rs = next(
            (rs for rs in owned if templates_equal(rs["spec"].get("template") or {}, template)),
            None,
        )
        if new_rs is None:
            new_rs = self._recorded_new_rs(d, owned)
        old = sorted((rs for rs in owned if rs is not new_rs), key=_created)
        max_old_rev = max((revision_of(rs) for rs in old), default=0)
        changed = False
        created_new = False
        if new_rs is None:
            if spec.get("paused"):
                return self._status(d, None, old, now, created=False)
            new_rs = self._create_rs(d, max_old_rev + 1, now)
            if new_rs is None:
                return True  # a hash collision was recorded; try again on the next pass
            created_new = True
            changed = True
        else:
            changed |= self._adopt_revision(d, new_rs, max_old_rev)
            new_rs = self._reload(new_rs)
        changed |= self._set_deployment_revision(d, revision_of(new_rs))
        if not spec.get("paused"):
            recreate = (spec.get("strategy") or {}).get("type") == "Recreate"
            if not recreate and self._is_scaling_event(d, [new_rs, *old]):
                changed |= self._proportional(d, new_rs, old, now)
            elif recreate:
                changed |= self._recreate(d, new_rs, old, now)
            else:
                changed |= self._rolling(d, new_rs, old, now)
            changed |= self._cleanup(d, [self._reload(rs) for rs in old])
        new_rs = self._reload(new_rs)
        old = [self._reload(rs) for rs in old]
        old = [rs for rs in old if rs]
        changed |= self._status(d, new_rs, old, now, created=created_new)
        return changed

    @staticmethod
    def _recorded_new_rs(d: Obj, owned: list[Obj]) -> Obj | None:
        """A loaded Deployment whose status says it already settled on a ReplicaSet.

        Recorded templates can differ from their ReplicaSet's in fields a real API server
        defaulted differently; when the recorded controller had observed this generation, its
        current revision's ReplicaSet is the new one (no surprise rollout on load).
        """
        status = d.get("status") or {}
        generation = d["metadata"].get("generation")
        if generation is None or status.get("observedGeneration") != generation:
            return None
        wanted = revision_of(d)
        if wanted <= 0:
            return None
        return next((rs for rs in owned if revision_of(rs) == wanted), None)

    def _reload(self, rs: Obj) -> Obj:
        meta = rs["metadata"]
        found = self.ctx.store.find(REPLICASETS, meta.get("namespace", ""), meta["name"])
        return found if found is not None else rs

    def _max_surge(self, d: Obj) -> tuple[int, int]:
        spec = d.get("spec") or {}
        desired = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
        strategy = spec.get("strategy") or {}
        if strategy.get("type") == "Recreate":
            return 0, desired
        rolling = strategy.get("rollingUpdate") or {}
        surge = resolve_intstr(rolling.get("maxSurge", "25%"), desired, round_up=True)
        unavailable = resolve_intstr(rolling.get("maxUnavailable", "25%"), desired, round_up=False)
        if surge == 0 and unavailable == 0:
            unavailable = 1
        return surge, unavailable

    def _desired(self, d: Obj) -> int:
        value = (d.get("spec") or {}).get("replicas")
        return 1 if value is None else int(value)

    def _rs_annotations(self, d: Obj) -> dict[str, str]:
        return {
            k: v
            for k, v in ((d["metadata"].get("annotations") or {}).items())
            if k not in _SKIP_ANNOTATIONS
        }

    def _create_rs(self, d: Obj, revision: int, now: float) -> Obj | None:
        spec = d.get("spec") or {}
        collision = (d.get("status") or {}).get("collisionCount")
        h = template_hash(spec.get("template") or {}, collision)
        name = f"{d['metadata']['name']}-{h}"
        namespace = d["metadata"].get("namespace", "default")
        template = copy.deepcopy(spec.get("template") or {})
        tmeta = template.setdefault("metadata", {})
        tmeta["labels"] = {**(tmeta.get("labels") or {}), HASH_LABEL: h}
        selector = copy.deepcopy(spec.get("selector") or {})
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: h}
        desired = self._desired(d)
        surge, _ = self._max_surge(d)
        annotations = self._rs_annotations(d)
        annotations.update(
            {DESIRED: str(desired), MAX_REPLICAS: str(desired + surge), REVISION: str(revision)}
        )
        rs: Obj = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": dict(tmeta["labels"]),
                "annotations": annotations,
                "ownerReferences": [owner_reference(d)],
            },
            "spec": {
                "replicas": 0,
                "minReadySeconds": int(spec.get("minReadySeconds") or 0),
                "selector": selector,
                "template": template,
            },
            "status": {"replicas": 0},
        }
        if not rs["spec"]["minReadySeconds"]:
            del rs["spec"]["minReadySeconds"]
        try:
            created = self.ctx.store.create(REPLICASETS, rs)
        except AlreadyExists:
            existing = self.ctx.store.find(REPLICASETS, namespace, name)
            if (
                existing is not None
                and owned_by(existing, d)
                and templates_equal(
                    existing["spec"].get("template") or {}, spec.get("template") or {}
                )
            ):
                return existing

            def bump(current: Obj) -> None:
                status = current.setdefault("status", {})
                status["collisionCount"] = int(status.get("collisionCount") or 0) + 1

            self.ctx.store.mutate(DEPLOYMENTS, namespace, d["metadata"]["name"], bump)
            return None
        return created

    def _adopt_revision(self, d: Obj, new_rs: Obj, max_old_rev: int) -> bool:
        """Reusing an older template (rollout undo): it becomes the newest revision."""
        current = revision_of(new_rs)
        wanted_annotations = self._rs_annotations(d)
        rs_annotations = new_rs["metadata"].get("annotations") or {}
        needs_rev = current <= max_old_rev
        copy_needed = any(rs_annotations.get(k) != v for k, v in wanted_annotations.items())
        if not needs_rev and copy_needed is False:
            return False

        def change(rs: Obj) -> None:
            ann = rs["metadata"].setdefault("annotations", {})
            ann.update(wanted_annotations)
            if needs_rev:
                if current > 0:
                    history = [h for h in ann.get(REVISION_HISTORY, "").split(",") if h]
                    history.append(str(current))
                    ann[REVISION_HISTORY] = ",".join(history)
                ann[REVISION] = str(max_old_rev + 1)

        self.ctx.store.mutate(
            REPLICASETS, new_rs["metadata"].get("namespace", ""), new_rs["metadata"]["name"], change
        )
        return True

    def _set_deployment_revision(self, d: Obj, revision: int) -> bool:
        if (d["metadata"].get("annotations") or {}).get(REVISION) == str(revision):
            return False

        def change(current: Obj) -> None:
            current["metadata"].setdefault("annotations", {})[REVISION] = str(revision)

        try:
            self.ctx.store.mutate(
                DEPLOYMENTS, d["metadata"].get("namespace", ""), d["metadata"]["name"], change
            )
        except NotFound:
            return False
        return True

    def _scale(self, d: Obj, rs: Obj, replicas: int, now: float) -> bool:
        current = _replicas(rs)
        desired = self._desired(d)
        surge, _ = self._max_surge(d)
        ann = rs["metadata"].get("annotations") or {}
        same_annotations = ann.get(DESIRED) == str(desired) and ann.get(MAX_REPLICAS) == str(
            desired + surge
        )
        if current == replicas and same_annotations:
            return False

        def change(obj: Obj) -> None:
            obj["spec"]["replicas"] = replicas
            a = obj["metadata"].setdefault("annotations", {})
            a[DESIRED] = str(desired)
            a[MAX_REPLICAS] = str(desired + surge)

        try:
            self.ctx.store.mutate(
                REPLICASETS, rs["metadata"].get("namespace", ""), rs["metadata"]["name"], change
            )
        except NotFound:
            return False
        if current != replicas:
            direction = "up" if replicas > current else "down"
            name = rs["metadata"]["name"]
            message = f"Scaled {direction} replica set {name} to {replicas}"
            if current:
                message += f" from {current}"
            self.ctx.events.emit(d, "Normal", "ScalingReplicaSet", message, events.DEPLOYMENT, now)
        return True

    # -- strategies ----------------------------------------------------------------------
    def _rolling(self, d: Obj, new_rs: Obj, old: list[Obj], now: float) -> bool:
        desired = self._desired(d)
        surge, max_unavailable = self._max_surge(d)
        changed = False
        old_active = [rs for rs in old if _replicas(rs) > 0]
        new_replicas = _replicas(new_rs)
        if not old_active:
            return self._scale(d, new_rs, desired, now)
        # Scale up the new ReplicaSet within maxSurge.
        if new_replicas > desired:
            changed |= self._scale(d, new_rs, desired, now)
            new_replicas = desired
        elif new_replicas < desired:
            all_count = sum(_replicas(rs) for rs in old) + new_replicas
            max_total = desired + surge
            if all_count < max_total:
                up = min(max_total - all_count, desired - new_replicas)
                changed |= self._scale(d, new_rs, new_replicas + up, now)
                new_replicas += up
        new_rs = self._reload(new_rs)
        # Scale down old ReplicaSets within maxUnavailable.
        all_count = sum(_replicas(rs) for rs in old) + new_replicas
        min_available = desired - max_unavailable
        new_unavailable = new_replicas - _status_int(new_rs, "availableReplicas")
        max_scaled_down = all_count - min_available - new_unavailable
        if max_scaled_down <= 0:
            return changed
        cleaned = 0
        scaled: dict[str, int] = {rs["metadata"]["name"]: _replicas(rs) for rs in old}
        for rs in old:
            name = rs["metadata"]["name"]
            if cleaned >= max_scaled_down:
                break
            available = _status_int(rs, "availableReplicas")
            if scaled[name] == 0 or scaled[name] <= available:
                continue
            down = min(max_scaled_down - cleaned, scaled[name] - available)
            scaled[name] -= down
            cleaned += down
            changed |= self._scale(d, rs, scaled[name], now)
        available_total = _status_int(new_rs, "availableReplicas") + sum(
            min(_status_int(rs, "availableReplicas"), scaled[rs["metadata"]["name"]]) for rs in old
        )
        if available_total <= min_available:
            return changed
        total_down = min(available_total - min_available, max_scaled_down - cleaned)
        done = 0
        for rs in old:
            name = rs["metadata"]["name"]
            if done >= total_down:
                break
            if scaled[name] == 0:
                continue
            down = min(scaled[name], total_down - done)
            scaled[name] -= down
            done += down
            changed |= self._scale(d, self._reload(rs), scaled[name], now)
        return changed

    def _is_scaling_event(self, d: Obj, rss: list[Obj]) -> bool:
        """replicas changed under a rollout: an active ReplicaSet was sized for another count."""
        desired = str(self._desired(d))
        active = [rs for rs in rss if _replicas(rs) > 0]
        return len(active) > 1 and any(
            ((rs["metadata"].get("annotations") or {}).get(DESIRED)) not in (None, desired)
            for rs in active
        )

    def _proportional(self, d: Obj, new_rs: Obj, old: list[Obj], now: float) -> bool:
        """Spread a change of replicas over the active ReplicaSets in proportion (dc.scale)."""
        desired = self._desired(d)
        surge, _ = self._max_surge(d)
        active = [rs for rs in [new_rs, *old] if _replicas(rs) > 0]
        allowed = desired + surge if desired > 0 else 0
        to_add = allowed - sum(_replicas(rs) for rs in active)
        # Largest first; newer first when growing, older first when shrinking.
        active.sort(key=lambda rs: _created(rs), reverse=to_add > 0)
        active.sort(key=_replicas, reverse=True)
        sizes: dict[str, int] = {}
        added = 0
        for rs in active:
            size = _replicas(rs)
            proportion = 0
            if to_add != 0 and to_add != added:
                if desired == 0:
                    fraction = -size
                else:
                    annotated = (rs["metadata"].get("annotations") or {}).get(MAX_REPLICAS)
                    base = (
                        int(annotated)
                        if annotated and annotated.isdigit()
                        else max(int((d.get("status") or {}).get("replicas") or 0), 1)
                    )
                    fraction = int(math.floor(size * allowed / base + 0.5)) - size
                remaining = to_add - added
                proportion = min(fraction, remaining) if to_add > 0 else max(fraction, remaining)
            sizes[rs["metadata"]["name"]] = size + proportion
            added += proportion
        if active and added != to_add:
            first = active[0]["metadata"]["name"]
            sizes[first] = max(sizes[first] + to_add - added, 0)
        changed = False
        for rs in active:
            changed |= self._scale(d, self._reload(rs), sizes[rs["metadata"]["name"]], now)
        return changed

    def _recreate(self, d: Obj, new_rs: Obj, old: list[Obj], now: float) -> bool:
        changed = False
        for rs in old:
            if _replicas(rs) > 0:
                changed |= self._scale(d, rs, 0, now)
        pods_left = any(
            controller_ref(p) is not None
            and any(controller_ref(p).get("uid") == rs["metadata"]["uid"] for rs in old)  # type: ignore[union-attr]
            for p in self.ctx.store.iter_refs(PODS, d["metadata"].get("namespace", ""))
        )
        if not pods_left:
            changed |= self._scale(d, new_rs, self._desired(d), now)
        return changed

    def _cleanup(self, d: Obj, old: list[Obj]) -> bool:
        limit = (d.get("spec") or {}).get("revisionHistoryLimit")
        limit = 10 if limit is None else int(limit)
        idle = [
            rs
            for rs in old
            if rs
            and _replicas(rs) == 0
            and _status_int(rs, "replicas") == 0
            and not is_terminating(rs)
        ]
        if len(idle) <= limit:
            return False
        idle.sort(key=revision_of)
        changed = False
        for rs in idle[: len(idle) - limit]:
            try:
                self.ctx.store.delete(
                    REPLICASETS, rs["metadata"].get("namespace", ""), rs["metadata"]["name"]
                )
                changed = True
            except NotFound:
                pass
        return changed

    # -- status --------------------------------------------------------------------------
    def _status(
        self, d: Obj, new_rs: Obj | None, old: list[Obj], now: float, created: bool
    ) -> bool:
        d = (
            self.ctx.store.find(
                DEPLOYMENTS, d["metadata"].get("namespace", ""), d["metadata"]["name"]
            )
            or d
        )
        all_rs = ([new_rs] if new_rs else []) + old
        desired = self._desired(d)
        _, max_unavailable = self._max_surge(d)
        total_spec = sum(_replicas(rs) for rs in all_rs)
        replicas = sum(_status_int(rs, "replicas") for rs in all_rs)
        updated = _status_int(new_rs, "replicas") if new_rs else 0
        ready = sum(_status_int(rs, "readyReplicas") for rs in all_rs)
        available = sum(_status_int(rs, "availableReplicas") for rs in all_rs)
        unavailable = max(total_spec - available, 0)
        old_status = d.get("status") or {}
        status: dict[str, Any] = {"observedGeneration": d["metadata"].get("generation", 1)}
        for key, value in (
            ("replicas", replicas),
            ("updatedReplicas", updated),
            ("readyReplicas", ready),
            ("availableReplicas", available),
            ("unavailableReplicas", unavailable),
        ):
            if value:
                status[key] = value
        if old_status.get("collisionCount"):
            status["collisionCount"] = old_status["collisionCount"]
        conditions = copy.deepcopy(old_status.get("conditions") or [])
        stamp = self.ctx.stamp(now)
        if available >= desired - max_unavailable:
            set_condition(
                conditions,
                "Available",
                "True",
                stamp,
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                update_time=True,
            )
        else:
            set_condition(
                conditions,
                "Available",
                "False",
                stamp,
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                update_time=True,
            )
        conditions = self._keep_update_times(old_status.get("conditions") or [], conditions)
        progressing = next((c for c in conditions if c["type"] == "Progressing"), None)
        uid = d["metadata"]["uid"]
        deadline = (d.get("spec") or {}).get("progressDeadlineSeconds")
        deadline = 600 if deadline is None else int(deadline)
        if (d.get("spec") or {}).get("paused"):
            if progressing is None or progressing.get("reason") != "DeploymentPaused":
                set_condition(
                    conditions,
                    "Progressing",
                    "Unknown",
                    stamp,
                    "DeploymentPaused",
                    "Deployment is paused",
                    update_time=True,
                )
            self._deadlines.pop(uid, None)
        elif new_rs is not None:
            name = new_rs["metadata"]["name"]
            complete = (
                updated == desired
                and replicas == desired
                and available == desired
                and status["observedGeneration"] >= d["metadata"].get("generation", 1)
            )
            progress = (
                updated > int(old_status.get("updatedReplicas") or 0)
                or replicas < int(old_status.get("replicas") or 0)
                or ready > int(old_status.get("readyReplicas") or 0)
                or available > int(old_status.get("availableReplicas") or 0)
            )
            if complete:
                if progressing is None or progressing.get("reason") != "NewReplicaSetAvailable":
                    self._set_progressing(
                        conditions,
                        progressing,
                        stamp,
                        "True",
                        "NewReplicaSetAvailable",
                        f'ReplicaSet "{name}" has successfully progressed.',
                    )
                self._deadlines.pop(uid, None)
            elif progress or created:
                reason = "NewReplicaSetCreated" if created else "ReplicaSetUpdated"
                message = (
                    f'Created new replica set "{name}"'
                    if created
                    else f'ReplicaSet "{name}" is progressing.'
                )
                self._set_progressing(conditions, progressing, stamp, "True", reason, message)
                self._deadlines[uid] = now + deadline
            elif progressing is None:
                self._set_progressing(
                    conditions,
                    None,
                    stamp,
                    "True",
                    "FoundNewReplicaSet",
                    f'Found new replica set "{name}"',
                )
                self._deadlines[uid] = now + deadline
            else:
                last = self.ctx.seconds(progressing.get("lastUpdateTime")) or now
                if progressing.get("reason") == "ProgressDeadlineExceeded":
                    self._deadlines.pop(uid, None)
                elif last + deadline <= now:
                    self._set_progressing(
                        conditions,
                        progressing,
                        stamp,
                        "False",
                        "ProgressDeadlineExceeded",
                        f'ReplicaSet "{name}" has timed out progressing.',
                    )
                    self._deadlines.pop(uid, None)
                else:
                    self._deadlines[uid] = last + deadline
        conditions.sort(key=lambda c: {"Available": 0, "Progressing": 1}.get(c["type"], 2))
        if conditions:
            status["conditions"] = conditions
        return write_status(self.ctx, DEPLOYMENTS, d, status)

    @staticmethod
    def _keep_update_times(
        old: list[dict[str, Any]], new: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """SetDeploymentCondition leaves a condition alone when status and reason are unchanged."""
        by_type = {c["type"]: c for c in old}
        out = []
        for cond in new:
            before = by_type.get(cond["type"])
            if (
                before
                and before.get("status") == cond.get("status")
                and before.get("reason") == cond.get("reason")
            ):
                out.append(copy.deepcopy(before))
            else:
                out.append(cond)
        return out

    @staticmethod
    def _set_progressing(
        conditions: list[dict[str, Any]],
        current: dict[str, Any] | None,
        stamp: str,
        status: str,
        reason: str,
        message: str,
    ) -> None:
        transition = stamp
        if current is not None:
            if current.get("status") == status:
                transition = current.get("lastTransitionTime", stamp)
            conditions.remove(current)
        conditions.append(
            {
                "type": "Progressing",
                "status": status,
                "lastUpdateTime": stamp,
                "lastTransitionTime": transition,
                "reason": reason,
                "message": message,
            }
        )
