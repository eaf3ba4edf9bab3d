"""The pod's node: NotReady / unreachable, pressure, cordon; evictions for node pressure.

Pure. The server never writes to a node: what a human may run is in the advice.
"""

from __future__ import annotations

from collections.abc import Sequence

from policies.diagnosis import Issue, IssueType, NodeInfo

from ..redaction import redact
from ._obj import Obj, clip, lst, m, s

PRESSURE = ("MemoryPressure", "DiskPressure", "PIDPressure")
UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"


def taint_text(taint: Obj) -> str:
    key = s(taint, "key") or ""
    value = s(taint, "value")
    return f"{key}{'=' + value if value else ''}:{s(taint, 'effect') or ''}"


def node_info(node: Obj) -> NodeInfo:
    ready = next((c for c in lst(node, "status", "conditions") if s(c, "type") == "Ready"), None)
    return NodeInfo(
        name=s(node, "metadata", "name") or "",
        ready=s(ready, "status") if ready else None,
        reason=s(ready, "reason") if ready else None,
        message=clip(redact(s(ready, "message") or ""), 300) or None if ready else None,
        unschedulable=m(node, "spec").get("unschedulable") is True,
        taints=[taint_text(t) for t in lst(node, "spec", "taints")],
        pressure=[
            s(c, "type") or ""
            for c in lst(node, "status", "conditions")
            if s(c, "type") in PRESSURE and s(c, "status") == "True"
        ],
    )


def node_findings(
    pod: Obj, node: Obj | None, *, evicted: bool, events: Sequence[Obj] = ()
) -> tuple[NodeInfo | None, list[Issue], list[str]]:
    """`NodeNotReady` for a pod on a node whose Ready condition is not True (the kubelet
    stopped posting: Unknown, with the unreachable taint), and the node's evidence for an
    eviction (its pressure conditions). Advice names the commands a human may run."""
    name = s(pod, "spec", "nodeName")
    if node is None or not name:
        return None, [], []
    info = node_info(node)
    issues: list[Issue] = []
    advice: list[str] = []
    cordon = f"kubectl cordon {info.name}"
    drain = f"kubectl drain {info.name} --ignore-daemonsets --delete-emptydir-data"
    if info.ready is not None and info.ready != "True":
        tainted = [t for t in info.taints if t.startswith((UNREACHABLE, NOT_READY))]
        issues.append(
            Issue(
                severity="critical",
                type=IssueType.NODE_NOT_READY,
                reason=info.reason,
                message=clip(
                    f"node {info.name} is not ready (Ready={info.ready}, {info.reason or '?'}: "
                    f"{info.message or 'no message'})"
                    + (f"; taints {', '.join(tainted)}" if tainted else "")
                    + "; the pod's status is the last its kubelet reported",
                    500,
                ),
            )
        )
        advice.append(
            f"Node {info.name} is not ready: check its kubelet and network "
            f"(kubectl describe node {info.name}); the server never touches nodes"
        )
        advice.append(
            f"A human may keep new pods off it ({cordon}) and move the rest ({drain}); pods "
            "with the default 300 s toleration are evicted by the taint manager anyway"
        )
    elif evicted:
        pressure = ", ".join(info.pressure) or "no pressure condition now"
        advice.append(
            f"Node {info.name} evicted the pod for pressure ({pressure}): "
            f"kubectl describe node {info.name}; if it keeps evicting, a human may {cordon} "
            f"and {drain}"
        )
    return info, issues, advice
