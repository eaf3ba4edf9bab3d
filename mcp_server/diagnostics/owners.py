"""The owner chain (Pod -> ReplicaSet -> Deployment), the workload's disruption budget, and
the Deployment's rollout history from its ReplicaSets.

Works on whatever objects the caller fetched: a missing link ends the chain where the facts
end, and every unknown stays None/False so the rules are never made more permissive by it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from policies.diagnosis import OwnerRef, RolloutInfo, WorkloadInfo

from ._obj import Obj, i, lst, m, parse_time, s

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
TEMPLATE_HASH_LABEL = "pod-template-hash"
MAX_CHAIN = 5
# A failure that starts this long after a rollout is not blamed on it (a database outage a
# week after a good release must not roll the release back).
ROLLOUT_FAILURE_WINDOW = timedelta(hours=1)


def controller_ref(obj: Obj) -> Obj | None:
    """The ownerReference with controller: true, if any."""
    for ref in lst(obj, "metadata", "ownerReferences"):
        if ref.get("controller") is True and s(ref, "kind") and s(ref, "name"):
            return ref
    return None


def _matches_ref(obj: Obj, ref: Obj) -> bool:
    if s(obj, "kind") and s(obj, "kind") != s(ref, "kind"):
        return False
    if s(obj, "metadata", "name") != s(ref, "name"):
        return False
    uid, ref_uid = s(obj, "metadata", "uid"), s(ref, "uid")
    return not (uid and ref_uid and uid != ref_uid)


def _find(ref: Obj, objects: Iterable[Obj]) -> Obj | None:
    return next((o for o in objects if _matches_ref(o, ref)), None)


def resolve_chain(pod: Obj, owners: Sequence[Obj]) -> tuple[list[OwnerRef], Obj | None]:
    """The owner references from the pod upwards, and the top controller's object if known."""
    chain: list[OwnerRef] = []
    current: Obj = pod
    top: Obj | None = None
    for _ in range(MAX_CHAIN):
        ref = controller_ref(current)
        if ref is None:
            break
        chain.append(
            OwnerRef(kind=s(ref, "kind") or "", name=s(ref, "name") or "", uid=s(ref, "uid"))
        )
        found = _find(ref, owners)
        if found is None:
            top = None
            break
        top = found
        current = found
    return chain, top


def owner_chain(pod: Obj, owners: Sequence[Obj]) -> list[OwnerRef]:
    return resolve_chain(pod, owners)[0]


def _scaled(value: object, total: int, *, round_up: bool) -> int | None:
    """An IntOrString (3 or "25%") resolved against `total`, as the controllers do."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return max(0, value)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("%"):
            try:
                pct = int(text[:-1])
            except ValueError:
                return None
            raw = pct * total / 100
            return max(0, math.ceil(raw) if round_up else math.floor(raw))
        return _ascii_int(text)
    return None


def _ascii_int(text: str) -> int | None:
    """A decimal the API server would accept: ASCII digits only (`"²".isdigit()` is True)."""
    return int(text) if text.isascii() and text.isdigit() else None


def max_unavailable(workload: Obj, replicas: int) -> int | None:
    """How many pods the workload's own update strategy lets be unavailable."""
    kind = s(workload, "kind")
    if kind == "Deployment":
        strategy = m(workload, "spec", "strategy")
        if s(strategy, "type") == "Recreate":
            return None  # Recreate takes every pod down on purpose: no budget to speak of.
        rolling = m(strategy, "rollingUpdate")
        unavailable = _scaled(rolling.get("maxUnavailable", "25%"), replicas, round_up=False)
        surge = _scaled(rolling.get("maxSurge", "25%"), replicas, round_up=True)
        if unavailable == 0 and surge == 0:
            return 1  # the controller's own fallback, so a rollout can progress
        return None if unavailable is None else min(unavailable, replicas)
    if kind in ("StatefulSet", "DaemonSet"):
        strategy = m(workload, "spec", "updateStrategy")
        if s(strategy, "type") == "OnDelete":
            return None
        value = m(strategy, "rollingUpdate").get("maxUnavailable", 1)
        resolved = _scaled(value, replicas, round_up=True)
        return None if resolved is None else max(1, min(resolved, max(replicas, 1)))
    return None


def _replica_counts(workload: Obj) -> tuple[int, int, int]:
    kind = s(workload, "kind")
    status = m(workload, "status")
    if kind == "DaemonSet":
        return (
            max(0, i(status, "desiredNumberScheduled") or 0),
            max(0, i(status, "numberReady") or 0),
            max(0, i(status, "numberAvailable") or 0),
        )
    if kind == "Job":
        parallelism = i(workload, "spec", "parallelism")
        return (
            max(0, 1 if parallelism is None else parallelism),
            max(0, i(status, "ready") or 0),
            max(0, i(status, "active") or 0),
        )
    replicas = i(workload, "spec", "replicas")
    return (
        max(0, 1 if replicas is None else replicas),
        max(0, i(status, "readyReplicas") or 0),
        max(0, i(status, "availableReplicas") or 0),
    )


def selector_matches(selector: Obj | None, labels: Obj) -> bool:
    """A LabelSelector (matchLabels + matchExpressions) against labels. {} matches everything."""
    if selector is None:
        return False
    for key, value in m(selector, "matchLabels").items():
        if labels.get(key) != value:
            return False
    for expr in lst(selector, "matchExpressions"):
        key = s(expr, "key") or ""
        op = s(expr, "operator")
        values = expr.get("values") or []
        if not isinstance(values, list):
            return False
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False
    return True


def pdb_for_pod(pod: Obj, pdbs: Sequence[Obj]) -> tuple[str, int | None] | None:
    """The most restrictive PodDisruptionBudget selecting the pod: (name, disruptionsAllowed)."""
    namespace = s(pod, "metadata", "namespace")
    labels = m(pod, "metadata", "labels")
    candidates: list[tuple[str, int | None]] = []
    for pdb in pdbs:
        if namespace and s(pdb, "metadata", "namespace") not in (None, namespace):
            continue
        selector = m(pdb, "spec").get("selector")
        if not isinstance(selector, dict) or not selector_matches(selector, labels):
            continue
        allowed = i(pdb, "status", "disruptionsAllowed")
        candidates.append(
            (s(pdb, "metadata", "name") or "?", None if allowed is None else max(0, allowed))
        )
    known = [c for c in candidates if c[1] is not None]
    if known:
        return min(known, key=lambda c: c[1] or 0)
    # A budget without status yet: its name, and "unknown" for what it allows.
    return candidates[0] if candidates else None


def pdb_healthy_budget_met(pod: Obj, pdbs: Sequence[Obj]) -> bool | None:
    """Do all budgets selecting the pod have currentHealthy >= desiredHealthy? None if none
    selects it or one has no status yet."""
    namespace = s(pod, "metadata", "namespace")
    labels = m(pod, "metadata", "labels")
    verdicts: list[bool | None] = []
    for pdb in pdbs:
        if namespace and s(pdb, "metadata", "namespace") not in (None, namespace):
            continue
        selector = m(pdb, "spec").get("selector")
        if not isinstance(selector, dict) or not selector_matches(selector, labels):
            continue
        current = i(pdb, "status", "currentHealthy")
        desired = i(pdb, "status", "desiredHealthy")
        verdicts.append(None if current is None or desired is None else current >= desired)
    if not verdicts or None in verdicts:
        return None
    return all(verdicts)


# -- rollout history --------------------------------------------------------------------------


def revision(rs: Obj) -> int | None:
    value = m(rs, "metadata", "annotations").get(REVISION_ANNOTATION)
    return _ascii_int(value) if isinstance(value, str) else None


def _owned_by(obj: Obj, owner: Obj) -> bool:
    ref = controller_ref(obj)
    return ref is not None and _matches_ref(owner, ref)


def deployment_replicasets(deployment: Obj, replicasets: Sequence[Obj]) -> list[Obj]:
    """The Deployment's ReplicaSets with a revision, oldest revision first."""
    owned: dict[str, Obj] = {}
    for rs in replicasets:
        if _owned_by(rs, {**deployment, "kind": "Deployment"}):
            owned.setdefault(s(rs, "metadata", "uid") or s(rs, "metadata", "name") or "", rs)
    with_revision = [rs for rs in owned.values() if revision(rs) is not None]
    return sorted(with_revision, key=lambda rs: revision(rs) or 0)


def template_images(obj: Obj) -> dict[str, str]:
    return {
        name: image
        for c in lst(obj, "spec", "template", "spec", "containers")
        if (name := s(c, "name")) and (image := s(c, "image"))
    }


def _pod_ready(pod: Obj) -> bool:
    return any(
        s(c, "type") == "Ready" and s(c, "status") == "True"
        for c in lst(pod, "status", "conditions")
    )


def _ran_healthy(rs: Obj, pods: Sequence[Obj]) -> bool:
    status = m(rs, "status")
    if (i(status, "readyReplicas") or 0) > 0 or (i(status, "availableReplicas") or 0) > 0:
        return True
    return any(_owned_by(p, {**rs, "kind": "ReplicaSet"}) and _pod_ready(p) for p in pods)


def _belongs_to(pod: Obj, rs: Obj) -> bool:
    if _owned_by(pod, {**rs, "kind": "ReplicaSet"}):
        return True
    pod_hash = m(pod, "metadata", "labels").get(TEMPLATE_HASH_LABEL)
    rs_hash = m(rs, "metadata", "labels").get(TEMPLATE_HASH_LABEL)
    return controller_ref(pod) is None and bool(pod_hash) and pod_hash == rs_hash


def rollout_info(
    deployment: Obj,
    replicasets: Sequence[Obj],
    pod: Obj,
    *,
    pods: Sequence[Obj] = (),
    first_failure_at: datetime | None = None,
    window: timedelta = ROLLOUT_FAILURE_WINDOW,
) -> RolloutInfo:
    """The rollout history from the Deployment's ReplicaSets.

    The failure began with the latest rollout when the failing pod belongs to the newest
    ReplicaSet and the first failure came after that ReplicaSet was created, within `window`.
    """
    history = deployment_replicasets(deployment, replicasets)
    if not history:
        return RolloutInfo()
    current_rev = revision(history[-1])
    dep_rev = m(deployment, "metadata", "annotations").get(REVISION_ANNOTATION)
    if isinstance(dep_rev, str) and _ascii_int(dep_rev) is not None:
        matching = [rs for rs in history if revision(rs) == int(dep_rev)]
        if matching:
            current_rev = int(dep_rev)
    current = next(rs for rs in history if revision(rs) == current_rev)
    earlier = [rs for rs in history if (revision(rs) or 0) < (current_rev or 0)]
    previous = earlier[-1] if earlier else None
    info = RolloutInfo(
        current_revision=current_rev,
        current_images=template_images(current),
        latest_rollout_at=s(current, "metadata", "creationTimestamp"),
    )
    if previous is None:
        return info
    info.previous_revision = revision(previous)
    info.previous_images = template_images(previous)
    info.image_changed_in_latest_rollout = info.previous_images != info.current_images
    info.previous_revision_healthy = _ran_healthy(previous, pods)
    created = parse_time(s(current, "metadata", "creationTimestamp"))
    began_after = (
        created is not None
        and first_failure_at is not None
        and created <= first_failure_at <= created + window
    )
    info.failure_began_with_latest_rollout = began_after and _belongs_to(pod, current)
    return info


# -- StatefulSet and DaemonSet history: ControllerRevisions ----------------------------------

REVISION_HASH_LABEL = "controller-revision-hash"


def workload_revisions(workload: Obj, revisions: Sequence[Obj]) -> list[Obj]:
    """The workload's ControllerRevisions (controlled by it), oldest revision number first."""
    owned = [r for r in revisions if _owned_by(r, workload) and i(r, "revision") is not None]
    return sorted(owned, key=lambda r: i(r, "revision") or 0)


def current_controller_revision(workload: Obj, history: Sequence[Obj]) -> Obj | None:
    """The revision of the workload's template now: a StatefulSet's `status.updateRevision`;
    for a DaemonSet (which has no such field) the highest revision number, as the controller
    gives the live template's revision the next number."""
    if not history:
        return None
    if s(workload, "kind") == "StatefulSet":
        name = s(workload, "status", "updateRevision")
        found = next((r for r in history if s(r, "metadata", "name") == name), None)
        if found is not None:
            return found
    return history[-1]


def revision_hash(workload_kind: str | None, revision: Obj) -> str | None:
    """The `controller-revision-hash` label value the revision's pods carry: a StatefulSet's
    pods name the revision, a DaemonSet's carry the revision's hash label."""
    if workload_kind == "DaemonSet":
        value = m(revision, "metadata", "labels").get(REVISION_HASH_LABEL)
        return value if isinstance(value, str) and value else None
    return s(revision, "metadata", "name")


def _of_revision(pod: Obj, workload: Obj, revision: Obj) -> bool:
    wanted = revision_hash(s(workload, "kind"), revision)
    label = m(pod, "metadata", "labels").get(REVISION_HASH_LABEL)
    return bool(wanted) and label == wanted and _owned_by(pod, workload)


def _revision_ran_healthy(workload: Obj, previous: Obj, pods: Sequence[Obj]) -> bool:
    """Did the previous revision run Ready pods? A Ready pod of it among `pods`, else what the
    workload's status tells: a StatefulSet whose current (not yet updated) revision is the
    previous one with Ready replicas; a DaemonSet not fully updated with Ready pods."""
    if any(_of_revision(p, workload, previous) and _pod_ready(p) for p in pods):
        return True
    status = m(workload, "status")
    if s(workload, "kind") == "StatefulSet":
        return (
            s(status, "currentRevision") == s(previous, "metadata", "name")
            and (i(status, "currentReplicas") or 0) > 0
            and (i(status, "readyReplicas") or 0) > 0
        )
    if s(workload, "kind") == "DaemonSet":
        desired = i(status, "desiredNumberScheduled") or 0
        updated = i(status, "updatedNumberScheduled") or 0
        return updated < desired and (i(status, "numberReady") or 0) > 0
    return False


def revision_rollout_info(
    workload: Obj,
    revisions: Sequence[Obj],
    pod: Obj,
    *,
    pods: Sequence[Obj] = (),
    first_failure_at: datetime | None = None,
    window: timedelta = ROLLOUT_FAILURE_WINDOW,
) -> RolloutInfo:
    """A StatefulSet's or DaemonSet's rollout history from its ControllerRevisions, read as
    `rollout_info` reads a Deployment's ReplicaSets."""
    history = workload_revisions(workload, revisions)
    current = current_controller_revision(workload, history)
    if current is None:
        return RolloutInfo()
    number = i(current, "revision")
    data = m(current, "data")
    info = RolloutInfo(
        current_revision=number,
        current_images=template_images(data),
        latest_rollout_at=s(current, "metadata", "creationTimestamp"),
    )
    earlier = [r for r in history if (i(r, "revision") or 0) < (number or 0)]
    if not earlier:
        return info
    previous = earlier[-1]
    info.previous_revision = i(previous, "revision")
    info.previous_images = template_images(m(previous, "data"))
    info.image_changed_in_latest_rollout = info.previous_images != info.current_images
    info.previous_revision_healthy = _revision_ran_healthy(workload, previous, pods)
    created = parse_time(s(current, "metadata", "creationTimestamp"))
    began_after = (
        created is not None
        and first_failure_at is not None
        and created <= first_failure_at <= created + window
    )
    info.failure_began_with_latest_rollout = began_after and _of_revision(pod, workload, current)
    return info


def workload_info(
    pod: Obj,
    owners: Sequence[Obj],
    *,
    replicasets: Sequence[Obj] = (),
    controller_revisions: Sequence[Obj] = (),
    pdbs: Sequence[Obj] = (),
    pods: Sequence[Obj] = (),
    first_failure_at: datetime | None = None,
) -> tuple[list[OwnerRef], WorkloadInfo | None]:
    """The owner chain and the top controller's facts; (chain, None) for a bare pod."""
    chain, top = resolve_chain(pod, owners)
    if not chain:
        return chain, None
    pdb = pdb_for_pod(pod, pdbs)
    if top is None:
        # The controller exists (the pod names it) but its object was not given.
        last = chain[-1]
        return chain, WorkloadInfo(
            kind=last.kind,
            name=last.name,
            pdb_name=pdb[0] if pdb else None,
            pdb_disruptions_allowed=pdb[1] if pdb else None,
            pdb_healthy_budget_met=pdb_healthy_budget_met(pod, pdbs),
        )
    kind = s(top, "kind") or chain[-1].kind
    top = {**top, "kind": kind}
    replicas, ready, available = _replica_counts(top)
    info = WorkloadInfo(
        kind=kind,
        name=s(top, "metadata", "name") or chain[-1].name,
        replicas=replicas,
        ready_replicas=ready,
        available_replicas=available,
        max_unavailable=max_unavailable(top, replicas),
        pdb_name=pdb[0] if pdb else None,
        pdb_disruptions_allowed=pdb[1] if pdb else None,
        pdb_healthy_budget_met=pdb_healthy_budget_met(pod, pdbs),
    )
    if kind == "Deployment":
        all_rs = list(replicasets) + [o for o in owners if s(o, "kind") == "ReplicaSet"]
        info.rollout = rollout_info(top, all_rs, pod, pods=pods, first_failure_at=first_failure_at)
    elif kind in ("StatefulSet", "DaemonSet"):
        info.rollout = revision_rollout_info(
            top, controller_revisions, pod, pods=pods, first_failure_at=first_failure_at
        )
    return chain, info
