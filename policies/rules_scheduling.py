"""The decision table's scheduling row: a pod Pending for lack of CPU or memory."""

from __future__ import annotations

from kubemedic_quantity import format_memory
from policies.actions import Action, Risk
from policies.diagnosis import IssueType, SchedulingInfo
from policies.rule_context import (
    Choice,
    RulesContext,
    clip,
    investigate,
    with_investigate,
)


def pending(rules: RulesContext) -> Choice:
    d = rules.d
    sched = d.scheduling
    if IssueType.UNBOUND_PVC in rules.f.types:
        return investigate("pending on an unbound PersistentVolumeClaim", IssueType.UNBOUND_PVC)
    issue_type = IssueType.PENDING
    if sched is None or not sched.insufficient:
        why = clip(
            "; ".join(sched.other_reasons)
            if sched and sched.other_reasons
            else (sched.message if sched and sched.message else "reason unknown")
        )
        return investigate(f"pending, not for lack of CPU or memory: {why}", issue_type)
    wanted = " and ".join(sched.insufficient)
    request = _describe_request(sched)
    fits = _fits_any_node(sched)
    if fits is False:
        return investigate(
            f"no node could ever fit the request ({request}); largest node: "
            f"{_largest_node(sched)}; lower the request or add bigger nodes",
            issue_type,
            0.95,
        )
    if fits is None:
        return investigate(
            f"insufficient {wanted} for {request}; cannot tell whether any node could fit it",
            issue_type,
            0.7,
        )
    if sched.other_reasons:
        return investigate(
            f"insufficient {wanted}, and also: {clip('; '.join(sched.other_reasons))}",
            issue_type,
        )
    workload = rules.f.workload
    minimum = rules.policy.min_replicas
    if workload is not None and workload.kind == "Deployment":
        # Scale to the pods that run, so none stays Pending; never below the minimum.
        running = min(workload.ready_replicas, workload.replicas)
        target = running if running < workload.replicas else workload.replicas - 1
        if minimum <= target < workload.replicas:
            choice = Choice(
                Action.SCALE_DOWN_DEPLOYMENT,
                f"cluster is full (insufficient {wanted} for {request}); scale "
                f"{workload.name} from {workload.replicas} to {target} replicas "
                "(or add capacity)",
                0.7,
                Risk.MEDIUM,
                issue_type,
                target=rules.workload_target(),
                parameters={"replicas": target, "from_replicas": workload.replicas},
            )
            return with_investigate(choice)
    return investigate(
        f"cluster is full (insufficient {wanted} for {request}) and replicas cannot go "
        f"below {minimum}: add capacity",
        issue_type,
        0.85,
    )


def _describe_request(sched: SchedulingInfo) -> str:
    return (
        f"cpu {sched.request_cpu_millicores}m, memory {format_memory(sched.request_memory_bytes)}"
    )


def _fits_any_node(sched: SchedulingInfo) -> bool | None:
    if sched.fits_any_node is not None:
        return sched.fits_any_node
    if not sched.nodes:
        return None
    return any(
        node.allocatable_cpu_millicores >= sched.request_cpu_millicores
        and node.allocatable_memory_bytes >= sched.request_memory_bytes
        for node in sched.nodes
    )


def _largest_node(sched: SchedulingInfo) -> str:
    if not sched.nodes:
        return "unknown"
    by_memory = "memory" in sched.insufficient
    node = max(
        sched.nodes,
        key=lambda n: (
            (n.allocatable_memory_bytes, n.allocatable_cpu_millicores)
            if by_memory
            else (n.allocatable_cpu_millicores, n.allocatable_memory_bytes)
        ),
    )
    return (
        f"{node.name} with cpu {node.allocatable_cpu_millicores}m, memory "
        f"{format_memory(node.allocatable_memory_bytes)} allocatable"
    )
