"""A DaemonSet's pods missing on nodes: desired vs current and ready, which nodes lack a
ready pod and why (an untolerated taint, a selector, the pod's own failure such as
insufficient resources). Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from policies.diagnosis import DaemonSetInfo, Issue, IssueType, NodeGap

from ._obj import Obj, clip, lst, m, s
from .nodes import taint_text

# Tolerations the DaemonSet controller adds to every daemon pod (1.28).
_DAEMON_TOLERATED = {
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
}


def _tolerates(tolerations: Sequence[Obj], taint: Obj) -> bool:
    key, effect, value = s(taint, "key"), s(taint, "effect"), s(taint, "value") or ""
    if (key, effect) in _DAEMON_TOLERATED:
        return True
    for t in tolerations:
        if s(t, "effect") and s(t, "effect") != effect:
            continue
        operator = s(t, "operator") or "Equal"
        if not s(t, "key") and operator == "Exists":
            return True
        if s(t, "key") != key:
            continue
        if operator == "Exists" or (s(t, "value") or "") == value:
            return True
    return False


def _pod_ready(pod: Obj) -> bool:
    return any(
        s(c, "type") == "Ready" and s(c, "status") == "True"
        for c in lst(pod, "status", "conditions")
    )


def _pod_node(pod: Obj) -> str | None:
    node = s(pod, "spec", "nodeName")
    if node:
        return node
    for term in lst(
        pod,
        "spec",
        "affinity",
        "nodeAffinity",
        "requiredDuringSchedulingIgnoredDuringExecution",
        "nodeSelectorTerms",
    ):
        for field in lst(term, "matchFields"):
            values = field.get("values")
            if s(field, "key") == "metadata.name" and isinstance(values, list) and values:
                return str(values[0])
    return None


def _why_not_ready(pod: Obj) -> str:
    for cond in lst(pod, "status", "conditions"):
        if s(cond, "type") == "PodScheduled" and s(cond, "status") == "False":
            return f"its pod {s(pod, 'metadata', 'name')} is unschedulable: {s(cond, 'message')}"
    for cs in lst(pod, "status", "containerStatuses"):
        waiting = m(cs, "state", "waiting")
        if waiting:
            return f"its pod {s(pod, 'metadata', 'name')} is {s(waiting, 'reason') or 'waiting'}"
    return f"its pod {s(pod, 'metadata', 'name')} is {s(pod, 'status', 'phase') or 'not ready'}"


def _counts(daemonset: Obj) -> DaemonSetInfo:
    status = m(daemonset, "status")

    def num(key: str) -> int:
        value = status.get(key)
        return value if isinstance(value, int) and value > 0 else 0

    return DaemonSetInfo(
        name=s(daemonset, "metadata", "name") or "",
        desired=num("desiredNumberScheduled"),
        current=num("currentNumberScheduled"),
        ready=num("numberReady"),
        updated=num("updatedNumberScheduled"),
        misscheduled=num("numberMisscheduled"),
    )


def _pods_by_node(pods: Sequence[Obj]) -> dict[str, Obj]:
    """Each node's daemon pod, a ready one preferred; pods being deleted do not count."""
    on_node: dict[str, Obj] = {}
    for daemon_pod in pods:
        if s(daemon_pod, "metadata", "deletionTimestamp"):
            continue
        where = _pod_node(daemon_pod)
        if where and (where not in on_node or _pod_ready(daemon_pod)):
            on_node[where] = daemon_pod
    return on_node


def _node_gap(daemonset: Obj, node: Obj, on_node: Mapping[str, Obj]) -> NodeGap | None:
    """Why the node lacks a ready daemon pod, or None when it has one or is not meant to."""
    template = m(daemonset, "spec", "template", "spec")
    node_name = s(node, "metadata", "name") or ""
    labels = m(node, "metadata", "labels")
    found = on_node.get(node_name)
    if found is not None:
        return None if _pod_ready(found) else NodeGap(node=node_name, reason=_why_not_ready(found))
    if any(labels.get(k) != v for k, v in m(template, "nodeSelector").items()):
        return None  # not meant to run there: not missing
    tolerations = lst(template, "tolerations")
    untolerated = [
        taint_text(t)
        for t in lst(node, "spec", "taints")
        if s(t, "effect") in ("NoSchedule", "NoExecute") and not _tolerates(tolerations, t)
    ]
    reason = (
        f"taint {', '.join(untolerated)} not tolerated by the DaemonSet's pods"
        if untolerated
        else "no daemon pod on this node"
    )
    return NodeGap(node=node_name, reason=reason)


def _advice(info: DaemonSetInfo, namespace: str) -> list[str]:
    advice = [f"kubectl describe daemonset {info.name} -n {namespace}"]
    if any("not tolerated" in g.reason for g in info.nodes_without_pod):
        advice.append(
            "Add a toleration for the node's taint to the DaemonSet's template if its pods "
            "belong there (a human's change), or leave those nodes out on purpose"
        )
    if any("unschedulable" in g.reason for g in info.nodes_without_pod):
        advice.append(
            "A node has no room for the daemon pod: lower its requests, give it a "
            "priorityClassName, or free the node"
        )
    return advice


def daemonset_info(
    daemonset: Obj, *, nodes: Sequence[Obj] | None = None, pods: Sequence[Obj] | None = None
) -> tuple[DaemonSetInfo, list[Issue], list[str]]:
    info = _counts(daemonset)
    if nodes is not None and pods is not None:
        info.nodes_read = True
        on_node = _pods_by_node(pods)
        for node in nodes:
            gap = _node_gap(daemonset, node, on_node)
            if gap is not None:
                info.nodes_without_pod.append(gap)
    short = info.ready < info.desired or info.current < info.desired
    if not short and not info.nodes_without_pod:
        return info, [], []
    gaps = "; ".join(f"{g.node}: {g.reason}" for g in info.nodes_without_pod[:5])
    issue = Issue(
        severity="warning",
        type=IssueType.DAEMONSET_PODS_MISSING,
        message=clip(
            f"DaemonSet {info.name}: desired {info.desired}, current {info.current}, ready "
            f"{info.ready}" + (f"; nodes without a ready pod: {gaps}" if gaps else ""),
            500,
        ),
    )
    namespace = s(daemonset, "metadata", "namespace") or ""
    return info, [issue], _advice(info, namespace)
