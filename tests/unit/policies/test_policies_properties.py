"""Safety invariants for any diagnosis and any proposal, hostile ones included."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from policies_builders import NOW

from policies import (
    WRITE_ACTIONS,
    Action,
    ActionRecord,
    Decision,
    DecisionContext,
    Diagnosis,
    IssueType,
    LLMProposal,
    Outcome,
    Policy,
    RateLimits,
    Risk,
    allowed_actions,
    decide,
    gate,
    is_milder,
    risk_at_most,
    run_safety_checks,
)

NAMESPACES = ["default", "shop", "kube-system", "kubemedic", "kube-public"]
# Weighted towards what leads to writes, so the write paths are exercised, not only hand-overs.
FOCUS = ["CrashLoopBackOff", "OOMKilled", "ImagePullBackOff", "Pending", "Evicted"]
ISSUE_TYPES = FOCUS * 6 + sorted(IssueType.ALL)
LIKELY_NAMESPACES = ["default"] * 4 + NAMESPACES
MOSTLY = [True] * 5 + [False]
PODS = ["web-5f7d8c9b4-x2k9p", "db-0", "api-1"]
KINDS = ["Deployment"] * 6 + ["StatefulSet", "DaemonSet", "Job", "ReplicaSet"]
MI = 2**20

small = st.integers(min_value=0, max_value=12)
memory = st.one_of(st.none(), st.integers(min_value=0, max_value=8 * 2**30))
limits = st.one_of(st.integers(min_value=MI, max_value=3 * 2**30), memory)

issues = st.fixed_dictionaries(
    {
        "type": st.one_of(st.sampled_from(ISSUE_TYPES), st.text(max_size=8)),
        "severity": st.sampled_from(["critical", "warning", "info"]),
        "container": st.sampled_from(["app", "sidecar", None]),
        "restart_count": small,
        "reason": st.sampled_from([None] * 4 + ["OOMKilled", "CrashLoopBackOff", "Error"]),
        "last_termination_reason": st.sampled_from([None, "Error"] * 3 + ["OOMKilled"]),
        "message": st.text(max_size=20),
    }
)

rollouts = st.fixed_dictionaries(
    {
        "current_revision": st.one_of(st.none(), st.integers(1, 5)),
        "previous_revision": st.sampled_from([None, 1, 1, 2]),
        "image_changed_in_latest_rollout": st.booleans(),
        "previous_revision_healthy": st.booleans(),
        "failure_began_with_latest_rollout": st.booleans(),
    }
)

workloads = st.one_of(
    st.fixed_dictionaries(
        {
            "kind": st.sampled_from(KINDS),
            "name": st.sampled_from(["web", "db"]),
            "replicas": small,
            "ready_replicas": small,
            "available_replicas": small,
            "max_unavailable": st.one_of(st.none(), small),
            "pdb_name": st.sampled_from([None, "web-pdb"]),
            "pdb_disruptions_allowed": st.one_of(st.none(), st.integers(0, 3)),
            "rollout": rollouts,
        }
    ),
    st.none(),
)

nodes = st.lists(
    st.fixed_dictionaries(
        {
            "name": st.sampled_from(["n1", "n2"]),
            "allocatable_cpu_millicores": st.integers(0, 8000),
            "allocatable_memory_bytes": st.integers(0, 16 * 2**30),
        }
    ),
    max_size=3,
)

scheduling = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {
            "insufficient": st.lists(
                st.sampled_from(["cpu", "memory"]), min_size=1, max_size=2, unique=True
            ),
            "other_reasons": st.sampled_from([[]] * 4 + [["taint"]]),
            "request_cpu_millicores": st.integers(0, 16000),
            "request_memory_bytes": st.integers(0, 32 * 2**30),
            "nodes": nodes,
            "fits_any_node": st.sampled_from([None, True, True, True, False]),
        }
    ),
)


@st.composite
def diagnoses(draw: st.DrawFn) -> Diagnosis:
    workload = draw(workloads)
    ready = draw(st.sampled_from([None, "True", "False"]))
    data: dict[str, Any] = {
        "success": draw(st.integers(0, 9)) > 0,
        "namespace": draw(st.sampled_from(LIKELY_NAMESPACES)),
        "pod_name": draw(st.sampled_from(PODS)),
        "pod_uid": draw(st.sampled_from([None, "uid-1"])),
        "status": {"conditions": [] if ready is None else [{"type": "Ready", "status": ready}]},
        "issues": draw(st.one_of(st.lists(issues, min_size=1, max_size=2), st.lists(issues))),
        "workload": workload,
        "owner_chain": (
            [{"kind": workload["kind"], "name": workload["name"]}]
            if workload and draw(st.sampled_from(MOSTLY))
            else []
        ),
        "resources": draw(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "name": st.sampled_from(["app", "sidecar"]),
                        "memory_limit_bytes": limits,
                        "memory_peak_bytes": memory,
                        "memory_usage_bytes": memory,
                    }
                ),
                max_size=2,
            )
        ),
        "limit_range_max_memory_bytes": draw(memory),
        "scheduling": draw(scheduling),
    }
    return Diagnosis.model_validate(data)


@st.composite
def contexts(draw: st.DrawFn) -> DecisionContext:
    policy = Policy(
        restart_threshold=draw(st.integers(0, 6)),
        min_replicas=draw(st.integers(0, 3)),
        auto_approve=frozenset(draw(st.lists(st.sampled_from(sorted(WRITE_ACTIONS))))),
        auto_approve_max_risk=draw(st.sampled_from(list(Risk))),
        trusted_callers=frozenset(draw(st.lists(st.sampled_from(["ops", "bot"]), max_size=1))),
        rate_limits=RateLimits(
            global_per_hour=draw(st.integers(0, 20)),
            per_workload_per_hour=draw(st.integers(0, 5)),
            cooldown_per_workload_seconds=draw(st.integers(0, 600)),
        ),
    )
    records = draw(
        st.lists(
            st.builds(
                ActionRecord,
                at=st.integers(0, 7200).map(lambda s: NOW - timedelta(seconds=s)),
                namespace=st.sampled_from(NAMESPACES),
                workload=st.sampled_from(["Deployment/web", "StatefulSet/db", "Pod/db-0"]),
                action=st.sampled_from([a.value for a in Action]),
                outcome=st.sampled_from([o.value for o in Outcome]),
            ),
            max_size=5,
        )
    )
    return DecisionContext(
        policy=policy,
        now=NOW,
        recent_actions=tuple(records),
        global_actions_last_hour=draw(st.integers(0, 6)),
        caller=draw(st.sampled_from([None, "ops", "chat-client"])),
        force=draw(st.booleans()),
        approval_granted=draw(st.booleans()),
        target_exists=draw(st.sampled_from([None, True, False])),
    )


proposals = st.builds(
    LLMProposal,
    action=st.one_of(st.sampled_from([a.value for a in Action]), st.text(max_size=12)),
    namespace=st.one_of(st.none(), st.sampled_from(NAMESPACES)),
    pod_name=st.one_of(st.none(), st.sampled_from(PODS)),
    confidence=st.one_of(st.none(), st.floats(allow_nan=True)),
    memory_limit_bytes=st.one_of(st.none(), st.integers(-MI, 64 * 2**30)),
    safety_checks_passed=st.sampled_from([None, None, True, False]),
    requires_approval=st.sampled_from([None, None, True, False]),
)
hostile_extras = st.dictionaries(
    st.sampled_from(["force", "approved", "checks", "target"]), st.booleans(), max_size=1
)


def assert_checks_honest(decision: Decision, d: Diagnosis, ctx: DecisionContext) -> None:
    """Re-run every check independently: nothing that fails may be reported passed."""
    again = {c.name: c.passed for c in run_safety_checks(decision, d, ctx)}
    reported = {c.name: c.passed for c in decision.checks}
    assert reported.keys() == again.keys()
    for name, passed in again.items():
        if not passed:
            assert not reported[name], name
    assert decision.safety_checks_passed == all(again.values())


@settings(max_examples=200, deadline=None)
@given(
    d=diagnoses(), ctx=contexts(), proposal=st.one_of(st.none(), proposals), extra=hostile_extras
)
def test_gated_action_is_allowed_and_checks_are_honest(
    d: Diagnosis, ctx: DecisionContext, proposal: LLMProposal | None, extra: dict[str, bool]
) -> None:
    if proposal is not None and extra:
        proposal = LLMProposal.model_validate({**proposal.model_dump(), **extra})
    rule = decide(d, ctx)
    result = gate(rule, proposal)
    final = result.decision
    allowed = allowed_actions(d, ctx)

    assert final.action in allowed
    assert rule.allowed_actions == allowed
    # Every alternative is strictly milder than the rule action, and writes no more.
    for alt in rule.alternatives:
        assert is_milder(alt.action, rule.action)
        assert alt.alternatives == ()
    assert Decision.from_dict(rule.to_dict()) == rule
    for decision in (rule, *rule.alternatives, final):
        assert_checks_honest(decision, d, ctx)
    if result.vetoed:
        assert final is rule and result.veto_reason
    # The target is the diagnosed pod or its own workload, never anything a proposal names.
    assert final.pod.namespace == d.namespace and final.pod.name == d.pod_name
    if final.target != final.pod:
        assert d.workload is not None
        assert (final.target.kind, final.target.name) == (d.workload.kind, d.workload.name)
    # A proposal can lower a memory limit, never raise it.
    if final.action is Action.INCREASE_MEMORY_LIMIT:
        limit, ruled, current = (
            final.parameters["memory_limit_bytes"],
            rule.parameters["memory_limit_bytes"],
            final.parameters["previous_memory_limit_bytes"],
        )
        assert isinstance(limit, int) and isinstance(ruled, int) and isinstance(current, int)
        assert current < limit <= ruled


@settings(max_examples=150, deadline=None)
@given(d=diagnoses(), ctx=contexts(), proposal=st.one_of(st.none(), proposals))
def test_no_write_passes_where_it_must_not(
    d: Diagnosis, ctx: DecisionContext, proposal: LLMProposal | None
) -> None:
    assert_write_allowed(gate(decide(d, ctx), proposal).decision, d, ctx)


def assert_write_allowed(final: Decision, d: Diagnosis, ctx: DecisionContext) -> None:
    """A write that passed its checks really was allowed: the invariants, restated plainly."""
    if final.action not in WRITE_ACTIONS or not final.safety_checks_passed:
        return
    policy = ctx.policy
    assert not policy.is_protected(d.namespace)
    assert d.workload is not None and d.owner_chain  # never a bare pod
    assert ctx.target_exists is not False and d.success
    assert ctx.global_actions_last_hour < policy.rate_limits.global_per_hour
    auto = final.action in policy.auto_approve and risk_at_most(
        final.estimated_risk, policy.auto_approve_max_risk
    )
    trusted_force = ctx.force and ctx.caller in policy.trusted_callers
    if ctx.force and not trusted_force:
        assert auto
    else:
        assert auto or trusted_force or ctx.approval_granted


@st.composite
def failing_deployments(draw: st.DrawFn) -> Diagnosis:
    """A controller-managed pod with one of the failures that lead to writes."""
    replicas = draw(st.integers(1, 5))
    kind = draw(st.sampled_from(FOCUS))
    issue: dict[str, Any] = {"severity": "critical", "type": kind, "container": "app"}
    if kind == "CrashLoopBackOff":
        issue["restart_count"] = draw(st.integers(0, 10))
    data: dict[str, Any] = {
        "namespace": "default",
        "pod_name": PODS[0],
        "pod_uid": "uid-1",
        "status": {"conditions": [{"type": "Ready", "status": "False"}]},
        "issues": [issue],
        "owner_chain": [
            {"kind": "ReplicaSet", "name": "web-1"},
            {"kind": "Deployment", "name": "web"},
        ],
        "workload": {
            "kind": "Deployment",
            "name": "web",
            "replicas": replicas,
            "ready_replicas": draw(st.integers(0, replicas)),
            "available_replicas": draw(st.integers(0, replicas)),
            "max_unavailable": draw(st.sampled_from([None, 0, 1])),
            "rollout": draw(rollouts),
        },
        "resources": [
            {
                "name": "app",
                "memory_limit_bytes": draw(st.integers(16 * MI, 2 * 2**30)),
                "memory_peak_bytes": draw(memory),
            }
        ],
        "scheduling": {
            "insufficient": ["cpu"],
            "request_cpu_millicores": 500,
            "fits_any_node": draw(st.sampled_from([True, True, False])),
        },
    }
    return Diagnosis.model_validate(data)


@settings(max_examples=200, deadline=None)
@given(
    d=failing_deployments(),
    ctx=contexts(),
    action=st.sampled_from([a.value for a in Action]),
    limit=st.one_of(st.none(), st.integers(0, 8 * 2**30)),
)
def test_hostile_proposals_on_write_paths(
    d: Diagnosis, ctx: DecisionContext, action: str, limit: int | None
) -> None:
    rule = decide(d, ctx)
    result = gate(rule, LLMProposal(action=action, memory_limit_bytes=limit))
    final = result.decision
    assert final.action in allowed_actions(d, ctx)
    assert_checks_honest(final, d, ctx)
    if not result.vetoed:
        assert final.action is rule.action or is_milder(final.action, rule.action)
    assert_write_allowed(final, d, ctx)
