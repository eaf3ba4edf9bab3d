"""Rule-engine throughput: decide + gate calls per second (target: at least 50,000).

Runs one realistic diagnosis (shaped like `diagnose_pod` output: status, issues, owner chain,
rollout, resources, logs, events) for every row of docs/decision-table.md, in equal shares,
each with the proposal an LLM might make there: none, agreeing, milder, or hostile (vetoed).
The contexts are built outside the timed loop from a real rate-limit store (reading the
store is I/O, not the rules); some carry the history that the escalation rows need. Before
timing, every case is checked to land on the row it is meant for, so the mix cannot silently
drift to a cheap branch.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from mcp_server.ratelimit_store import RateLimitStore
from policies import (
    CHECK_NAMES,
    DEMO_POLICY_PATH,
    Action,
    CheckResult,
    Decision,
    DecisionContext,
    Diagnosis,
    LLMProposal,
    Outcome,
    Policy,
    Risk,
    Target,
    decide,
    gate,
    load_policy,
)

TARGET_PER_SECOND = 50_000
MI = 2**20
GI = 2**30
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
A = Action


class Case(NamedTuple):
    row: int  # docs/decision-table.md
    diagnosis: Diagnosis
    context: DecisionContext
    proposal: LLMProposal | None
    expected: Action  # the rule action for this row


def _deployment(name: str = "web", **extra: Any) -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "name": name,
        "replicas": 3,
        "ready_replicas": 2,
        "available_replicas": 2,
        "max_unavailable": 1,
        "pdb_name": name,
        "pdb_disruptions_allowed": 1,
        "rollout": {"current_revision": 2, "previous_revision": 1},
        **extra,
    }


def _diagnosis(
    name: str, *issues: dict[str, Any], workload: dict[str, Any] | None = None, **extra: Any
) -> Diagnosis:
    """A diagnosis as `diagnose_pod` returns it; `workload=None` means the default Deployment
    `name`; pass `bare=True` for a pod without a controller."""
    bare = extra.pop("bare", False)
    wl = None if bare else (workload or _deployment(name))
    pod = f"{name}-5f7d8c9b4-x2k9p" if wl else name
    data: dict[str, Any] = {
        "success": True,
        "namespace": "shop",
        "pod_name": pod,
        "pod_uid": f"uid-{name}",
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": "PodScheduled", "status": "True"},
                {"type": "Ready", "status": "False"},
            ],
            "container_statuses": [{"name": "app", "ready": False, "restart_count": 6}],
        },
        "phase": "Running",
        "issues": list(issues),
        "owner_chain": (
            [
                {"kind": "ReplicaSet", "name": f"{name}-5f7d8c9b4", "uid": "rs-uid"},
                {"kind": wl["kind"], "name": wl["name"], "uid": "wl-uid"},
            ]
            if wl
            else []
        ),
        "workload": wl,
        "resources": [
            {
                "name": "app",
                "memory_request_bytes": 32 * MI,
                "memory_limit_bytes": 64 * MI,
                "memory_usage_bytes": 40 * MI,
                "cpu_request_millicores": 100,
                "cpu_limit_millicores": 500,
                "cpu_usage_millicores": 120,
            }
        ],
        "metrics_available": True,
        "logs": {"errors": ["ERROR connection refused"], "warnings": ["WARN retrying"]},
        "events": [
            {"type": "Warning", "reason": "BackOff", "message": "Back-off restarting", "count": 7}
        ],
        "recommendations": ["look at the logs"],
        **extra,
    }
    return Diagnosis.model_validate(data)


def _issue(kind: str, severity: str = "critical", **extra: Any) -> dict[str, Any]:
    return {"severity": severity, "type": kind, "container": "app", "message": kind, **extra}


def _crash(restarts: int = 6, **extra: Any) -> dict[str, Any]:
    return _issue(
        "CrashLoopBackOff",
        restart_count=restarts,
        reason="CrashLoopBackOff",
        exit_code=1,
        last_termination_reason="Error",
        **extra,
    )


_OOM = _issue("OOMKilled", restart_count=4, exit_code=137, last_termination_reason="OOMKilled")
_PULL = _issue("ImagePullBackOff", message='Back-off pulling image "shop/web:v2"')
_PULL_INFO = [
    {"container": "app", "image": "shop/web:v2", "error_class": "not_found", "message": "404"}
]
_NODES = [
    {"name": "n1", "allocatable_cpu_millicores": 4000, "allocatable_memory_bytes": 8 * GI},
    {"name": "n2", "allocatable_cpu_millicores": 2000, "allocatable_memory_bytes": 4 * GI},
]
_PENDING = _issue("Pending", severity="warning", message="0/2 nodes are available")


def _scheduling(**extra: Any) -> dict[str, Any]:
    return {
        "message": "0/2 nodes are available: 2 Insufficient cpu.",
        "insufficient": ["cpu"],
        "request_cpu_millicores": 1000,
        "request_memory_bytes": 256 * MI,
        "nodes": _NODES,
        **extra,
    }


def _oom_resources(limit: int | None = 50 * MI) -> list[dict[str, Any]]:
    return [{"name": "app", "memory_limit_bytes": limit, "memory_peak_bytes": 80 * MI}]


def _rolled(name: str, **rollout: Any) -> dict[str, Any]:
    return _deployment(name, rollout={"current_revision": 2, "previous_revision": 1, **rollout})


def _proposal(action: str, diagnosis: Diagnosis, **extra: Any) -> LLMProposal:
    return LLMProposal(
        action=action, namespace=diagnosis.namespace, pod_name=diagnosis.pod_name, **extra
    )


def cases() -> list[Case]:
    """One case per decision-table row, with its context built from a real store."""
    default = load_policy()
    demo = load_policy(DEMO_POLICY_PATH)
    store = RateLimitStore(":memory:")
    # History the escalation rows need, and other workloads' writes for the global count.
    for minutes, workload, action in [
        (50, "Deployment/other", A.DELETE_POD),
        (40, "Deployment/leak", A.INCREASE_MEMORY_LIMIT),
        (20, "Deployment/leak", A.INCREASE_MEMORY_LIMIT),
        (30, "Deployment/rolledback", A.ROLLBACK_DEPLOYMENT),
        (25, "Deployment/deleted", A.DELETE_POD),
        (15, "Deployment/escalate", A.DELETE_POD),
        (10, "Deployment/web", A.INCREASE_MEMORY_LIMIT),
    ]:
        store.record("shop", workload, action, Outcome.EXECUTED, NOW - timedelta(minutes=minutes))
    store.record("shop", "Deployment/web", A.DELETE_POD, Outcome.DRY_RUN, NOW)

    def case(
        row: int,
        diagnosis: Diagnosis,
        expected: Action,
        proposal: str | None = None,
        policy: Policy = default,
        **extra: Any,
    ) -> Case:
        ctx = DecisionContext.from_store(store, diagnosis, policy, now=NOW, caller="agent")
        offer = None if proposal is None else _proposal(proposal, diagnosis, **extra)
        return Case(row, diagnosis, ctx, offer, expected)

    d = _diagnosis
    rows = [
        case(1, d("gone", success=False, phase="NotFound"), A.INVESTIGATE_MANUALLY),
        case(2, d("healthy"), A.NONE, "none"),
        case(3, d("evicted", _issue("Evicted")), A.DELETE_EVICTED_POD, "delete_evicted_pod", demo),
        case(4, d("evicted-bare", _issue("Evicted"), bare=True), A.INVESTIGATE_MANUALLY),
        case(5, d("pvc", _PENDING, _issue("UnboundPVC")), A.INVESTIGATE_MANUALLY),
        case(
            6,
            d("tainted", _PENDING, scheduling={"other_reasons": ["node(s) had untolerated taint"]}),
            A.INVESTIGATE_MANUALLY,
        ),
        case(
            7,
            d("huge", _PENDING, scheduling=_scheduling(request_cpu_millicores=64000)),
            A.INVESTIGATE_MANUALLY,
            "scale_down_deployment",  # hostile: not allowed here
        ),
        case(
            8,
            d("unknown-fit", _PENDING, scheduling=_scheduling(nodes=[])),
            A.INVESTIGATE_MANUALLY,
        ),
        case(
            9,
            d("affinity", _PENDING, scheduling=_scheduling(other_reasons=["node affinity"])),
            A.INVESTIGATE_MANUALLY,
        ),
        case(10, d("full", _PENDING, scheduling=_scheduling()), A.SCALE_DOWN_DEPLOYMENT),
        case(
            11,
            d("full-bare", _PENDING, scheduling=_scheduling(), bare=True),
            A.INVESTIGATE_MANUALLY,
        ),
        case(
            12,
            d(
                "badtag",
                _PULL,
                workload=_rolled(
                    "badtag", image_changed_in_latest_rollout=True, previous_revision_healthy=True
                ),
                image_pull=_PULL_INFO,
            ),
            A.ROLLBACK_DEPLOYMENT,
            "check_image_availability",  # milder
        ),
        case(13, d("noimage", _PULL, image_pull=_PULL_INFO), A.CHECK_IMAGE_AVAILABILITY),
        case(
            14, d("oom-bare", _OOM, bare=True, resources=_oom_resources()), A.INVESTIGATE_MANUALLY
        ),
        case(15, d("oom-nolimit", _OOM, resources=_oom_resources(None)), A.INVESTIGATE_MANUALLY),
        case(16, d("leak", _OOM, resources=_oom_resources()), A.INVESTIGATE_MANUALLY),
        case(17, d("oom-cap", _OOM, resources=_oom_resources(4 * GI)), A.INVESTIGATE_MANUALLY),
        case(
            18,
            d("oom", _OOM, resources=_oom_resources()),
            A.INCREASE_MEMORY_LIMIT,
            "increase_memory_limit",  # milder: a lower limit than the rules'
            memory_limit_bytes=100 * MI,
        ),
        case(
            19,
            d("config", _issue("CreateContainerConfigError"), _crash()),
            A.INVESTIGATE_MANUALLY,
            "delete_pod",  # hostile: a restart cannot fix it
        ),
        case(20, d("young", _crash(2)), A.INVESTIGATE_MANUALLY),
        case(21, d("crash-bare", _crash(), bare=True), A.INVESTIGATE_MANUALLY, "delete_pod"),
        case(
            22,
            d(
                "rolledback",
                _crash(),
                workload=_rolled("rolledback", failure_began_with_latest_rollout=True),
            ),
            A.INVESTIGATE_MANUALLY,
        ),
        case(
            23,
            d(
                "newcrash",
                _crash(),
                workload=_rolled(
                    "newcrash",
                    previous_revision_healthy=True,
                    failure_began_with_latest_rollout=True,
                ),
            ),
            A.ROLLBACK_DEPLOYMENT,
            "delete_pod",  # milder
        ),
        case(
            24,
            d(
                "escalate",
                _crash(),
                workload=_rolled("escalate", failure_began_with_latest_rollout=True),
            ),
            A.ROLLBACK_DEPLOYMENT,
        ),
        case(25, d("deleted", _crash()), A.INVESTIGATE_MANUALLY),
        case(26, d("web", _crash()), A.DELETE_POD, "delete_pod"),
        case(
            26,
            d("web", _crash()),
            A.DELETE_POD,
            "delete_pod",
            demo,
            safety_checks_passed=True,  # hostile: claims the checks passed
        ),
        case(
            27,
            d("nolimits", _issue("NoResourceLimits", severity="info")),
            A.NONE,
            "rollback_deployment",  # hostile
        ),
        case(
            28,
            d("restarts", _issue("HighRestartCount", severity="warning")),
            A.INVESTIGATE_MANUALLY,
        ),
    ]
    store.close()
    return rows


def check_mix(mix: list[Case]) -> None:
    """Every case lands on its row's action (outside the timing)."""
    for item in mix:
        got = decide(item.diagnosis, item.context).action
        if got is not item.expected:
            raise AssertionError(f"row {item.row}: decided {got}, expected {item.expected}")


def _best_rate(step: Callable[[], object], calls: int, seconds: float) -> float:
    """Calls per second of `step`: the best of short rounds over about `seconds`.

    The best round is the code's own speed; slower rounds measure whoever else shares the
    CPU (the same reasoning as timeit's "take the minimum").
    """
    best = 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        step()
        best = max(best, calls / (time.perf_counter() - start))
    return best


def run(seconds: float = 3.0, round_calls: int = 2_000) -> float:
    """decide + gate calls per second over the mix of every decision-table row."""
    mix = [(c.diagnosis, c.context, c.proposal) for c in cases()]
    per_round = max(1, round_calls // len(mix))

    def step() -> None:
        for _ in range(per_round):
            for diagnosis, context, proposal in mix:
                gate(decide(diagnosis, context), proposal)

    return _best_rate(step, per_round * len(mix), seconds)


def floor(seconds: float = 1.0, round_calls: int = 2_000) -> float:
    """How many times a second this machine can merely build the records of one decision
    (a Target, seven CheckResults, a Decision and one alternative): the ceiling for decide."""
    pod = Target("Pod", "default", "web")

    def step() -> None:
        for _ in range(round_calls):
            checks = tuple([CheckResult(name, True, f"{name} ok") for name in CHECK_NAMES])
            alt = Decision(
                Action.INVESTIGATE_MANUALLY, "r", 0.9, Risk.LOW, False, True, (), pod, pod, "w"
            )
            Decision(
                Action.DELETE_POD,
                "r",
                0.9,
                Risk.LOW,
                True,
                False,
                checks,
                pod,
                pod,
                "w",
                alternatives=(alt,),
            )

    return _best_rate(step, round_calls, seconds)


def main() -> None:
    check_mix(cases())
    rate = run()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    verdict = "ok" if rate >= TARGET_PER_SECOND else "BELOW TARGET"
    print(
        f"policies: {rate:,.0f} decide+gate per second (target {TARGET_PER_SECOND:,}) {verdict};"
        f" load average {load} on {os.cpu_count()} cores"
    )
    print(f"policies: reference: building one decision's records alone: {floor():,.0f} per second")


if __name__ == "__main__":
    main()
