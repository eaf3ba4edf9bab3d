"""A StatefulSet's rollout held by one ordinal: which, why, and the revisions. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from policies.diagnosis import Issue, IssueType, StatefulSetInfo

from ._obj import Obj, clip, i, m, s

REVISION_LABEL = "controller-revision-hash"
INDEX_LABEL = "apps.kubernetes.io/pod-index"


def _ordinal(pod: Obj, set_name: str) -> int | None:
    label = m(pod, "metadata", "labels").get(INDEX_LABEL)
    if isinstance(label, str) and label.isdigit():
        return int(label)
    name = s(pod, "metadata", "name") or ""
    suffix = name[len(set_name) + 1 :] if name.startswith(set_name + "-") else ""
    return int(suffix) if suffix.isdigit() else None


def _set_info(pod: Obj, statefulset: Obj) -> StatefulSetInfo:
    name = s(statefulset, "metadata", "name") or ""
    status = m(statefulset, "status")
    wanted = i(statefulset, "spec", "replicas")
    return StatefulSetInfo(
        name=name,
        replicas=1 if wanted is None else max(0, wanted),
        ready_replicas=max(0, i(status, "readyReplicas") or 0),
        updated_replicas=max(0, i(status, "updatedReplicas") or 0),
        current_revision=s(status, "currentRevision"),
        update_revision=s(status, "updateRevision"),
        pod_ordinal=_ordinal(pod, name),
        pod_revision=m(pod, "metadata", "labels").get(REVISION_LABEL) or None,
        pod_management_policy=s(statefulset, "spec", "podManagementPolicy") or "OrderedReady",
    )


def _stuck_issue(pod: Obj, info: StatefulSetInfo, first: Issue, *, rolling: bool) -> Issue:
    ordinal = "?" if info.pod_ordinal is None else str(info.pod_ordinal)
    pod_name = s(pod, "metadata", "name") or ""
    what = (
        f"rollout from {info.current_revision} to {info.update_revision} "
        f"({info.updated_replicas}/{info.replicas} updated)"
        if rolling
        else f"{info.ready_replicas}/{info.replicas} replicas ready"
    )
    later = (
        "; OrderedReady: higher ordinals wait for it"
        if info.pod_management_policy == "OrderedReady"
        else ""
    )
    return Issue(
        severity="warning",
        type=IssueType.STATEFULSET_ROLLOUT_STUCK,
        container=first.container,
        reason=first.type,
        message=clip(
            f"StatefulSet {info.name} stuck at ordinal {ordinal} ({pod_name}, revision "
            f"{info.pod_revision or 'unknown'}): {what}; its pod: {info.why}{later}",
            500,
        ),
    )


def _stuck_advice(
    info: StatefulSetInfo, first: Issue, namespace: str, *, rolling: bool
) -> list[str]:
    ordinal = "?" if info.pod_ordinal is None else str(info.pod_ordinal)
    name = info.name
    advice = [
        f"Fix ordinal {ordinal}'s own failure first ({first.type}); then watch "
        f"kubectl rollout status statefulset/{name} -n {namespace}",
    ]
    if rolling:
        advice.append(
            f"If the new revision is at fault, a human may return to the previous one: "
            f"kubectl rollout undo statefulset/{name} -n {namespace}"
        )
    return advice


def statefulset_info(
    pod: Obj, statefulset: Obj, pod_issues: Sequence[Issue]
) -> tuple[StatefulSetInfo, list[Issue], list[str]]:
    """`StatefulSetRolloutStuck` when the set is not at its desired state (an update not
    rolled out to every ordinal, or fewer ready replicas than wanted) and the diagnosed pod,
    the ordinal the controller waits on, has a failure of its own."""
    info = _set_info(pod, statefulset)
    rolling = bool(
        info.update_revision
        and info.current_revision
        and info.update_revision != info.current_revision
    )
    short = info.ready_replicas < info.replicas
    failing = [x for x in pod_issues if x.severity == "critical"] or [
        x for x in pod_issues if x.severity == "warning"
    ]
    if not (rolling or short) or not failing:
        return info, [], []
    first = failing[0]
    info.stuck = True
    info.why = clip(f"{first.type}: {first.message}", 300)
    namespace = s(statefulset, "metadata", "namespace") or ""
    issue = _stuck_issue(pod, info, first, rolling=rolling)
    return info, [issue], _stuck_advice(info, first, namespace, rolling=rolling)
