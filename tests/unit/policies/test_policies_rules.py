"""Every branch of the decision table (docs/decision-table.md)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from policies_builders import (
    GI,
    MI,
    NOW,
    context,
    crash,
    deployment,
    diagnosis,
    issue,
    oom,
    policy,
    resources,
    rollout,
)

from policies import (
    Action,
    ActionRecord,
    Outcome,
    Risk,
    Target,
    allowed_actions,
    decide,
    new_memory_limit,
)


def record(action: Action, minutes_ago: float = 5, outcome: str = Outcome.EXECUTED) -> ActionRecord:
    return ActionRecord(
        at=NOW - timedelta(minutes=minutes_ago),
        namespace="default",
        workload="Deployment/web",
        action=action.value,
        outcome=outcome,
    )


# -- no issues, failed diagnosis, advisory ------------------------------------------------


def test_no_issues_is_none() -> None:
    decision = decide(diagnosis(ready=True), context())
    assert decision.action is Action.NONE
    assert decision.safety_checks_passed
    assert decision.allowed_actions == {Action.NONE}


def test_failed_diagnosis_is_investigate() -> None:
    decision = decide(diagnosis(crash(), success=False), context())
    assert decision.action is Action.INVESTIGATE_MANUALLY
    assert "did not succeed" in decision.reason


def test_only_info_issues_is_none() -> None:
    d = diagnosis(issue("NoResourceLimits", severity="info"), ready=True)
    decision = decide(d, context())
    assert decision.action is Action.NONE
    assert "NoResourceLimits" in decision.reason


def test_unknown_issue_is_investigate() -> None:
    d = diagnosis(issue("HighRestartCount", severity="warning", restart_count=12), ready=True)
    decision = decide(d, context())
    assert decision.action is Action.INVESTIGATE_MANUALLY
    assert decision.issue_type == "HighRestartCount"


# -- CrashLoopBackOff ---------------------------------------------------------------------


def test_crash_loop_above_threshold_deletes_pod() -> None:
    d = diagnosis(crash(restarts=5))
    decision = decide(d, context())
    assert decision.action is Action.DELETE_POD
    assert decision.target == Target("Pod", "default", "web-5f7d8c9b4-x2k9p")
    assert decision.parameters["pod_uid"] == d.pod_uid
    assert decision.estimated_risk is Risk.LOW
    assert decision.requires_approval  # default policy: every write needs a human
    assert decision.awaiting_approval
    assert allowed_actions(d, context()) == {Action.DELETE_POD, Action.INVESTIGATE_MANUALLY}


@pytest.mark.parametrize("restarts", [0, 2, 3])
def test_crash_loop_at_or_below_threshold_investigates(restarts: int) -> None:
    decision = decide(diagnosis(crash(restarts=restarts)), context())
    assert decision.action is Action.INVESTIGATE_MANUALLY
    assert "threshold of 3" in decision.reason


def test_threshold_comes_from_the_policy() -> None:
    ctx = context(policy(restart_threshold=6))
    assert decide(diagnosis(crash(restarts=5)), ctx).action is Action.INVESTIGATE_MANUALLY
    assert decide(diagnosis(crash(restarts=7)), ctx).action is Action.DELETE_POD


def test_bare_pod_crash_loop_is_never_deleted() -> None:
    decision = decide(diagnosis(crash(restarts=9), workload=None), context())
    assert decision.action is Action.INVESTIGATE_MANUALLY
    assert "bare pod" in decision.reason
    assert Action.DELETE_POD not in decision.allowed_actions


def test_crash_loop_from_latest_rollout_with_healthy_previous_rolls_back() -> None:
    wl = deployment(
        rollout=rollout(failure_began_with_latest_rollout=True, previous_revision_healthy=True)
    )
    decision = decide(diagnosis(crash(restarts=5), workload=wl), context())
    assert decision.action is Action.ROLLBACK_DEPLOYMENT
    assert decision.target == Target("Deployment", "default", "web")
    assert decision.parameters["revision"] == 1
    assert decision.allowed_actions == {
        Action.ROLLBACK_DEPLOYMENT,
        Action.DELETE_POD,
        Action.INVESTIGATE_MANUALLY,
    }


def test_crash_loop_from_rollout_without_known_good_previous_deletes_first() -> None:
    wl = deployment(rollout=rollout(failure_began_with_latest_rollout=True))
    decision = decide(diagnosis(crash(restarts=5), workload=wl), context())
    assert decision.action is Action.DELETE_POD


def test_delete_that_did_not_heal_escalates_to_rollback() -> None:
    wl = deployment(rollout=rollout(failure_began_with_latest_rollout=True))
    ctx = context(recent_actions=(record(Action.DELETE_POD, outcome=Outcome.NOT_HEALED),))
    decision = decide(diagnosis(crash(restarts=6), workload=wl), ctx)
    assert decision.action is Action.ROLLBACK_DEPLOYMENT
    assert "did not heal" in decision.reason
    # Deleting again is no longer among the allowed actions.
    assert decision.allowed_actions == {Action.ROLLBACK_DEPLOYMENT, Action.INVESTIGATE_MANUALLY}


def test_repeated_delete_without_rollout_cause_investigates() -> None:
    ctx = context(recent_actions=(record(Action.DELETE_POD),))
    decision = decide(diagnosis(crash(restarts=6)), ctx)
    assert decision.action is Action.INVESTIGATE_MANUALLY
    assert "after the pod was deleted" in decision.reason


def test_old_or_dry_run_deletes_do_not_escalate() -> None:
    ctx = context(
        recent_actions=(
            record(Action.DELETE_POD, minutes_ago=61),  # outside the escalation window
            record(Action.DELETE_POD, outcome=Outcome.DRY_RUN),
            record(Action.DELETE_POD, outcome=Outcome.FAILED),
        )
    )
    assert decide(diagnosis(crash(restarts=6)), ctx).action is Action.DELETE_POD


def test_still_crashing_after_rollback_investigates() -> None:
    wl = deployment(
        rollout=rollout(failure_began_with_latest_rollout=True, previous_revision_healthy=True)
    )
    ctx = context(recent_actions=(record(Action.ROLLBACK_DEPLOYMENT),))
    decision = decide(diagnosis(crash(restarts=6), workload=wl), ctx)
    assert decision.action is Action.INVESTIGATE_MANUALLY
    assert "after a rollback" in decision.reason


@pytest.mark.parametrize("kind", ["StatefulSet", "DaemonSet"])
def test_a_statefulset_or_daemonset_rolls_back_to_its_previous_controller_revision(
    kind: str,
) -> None:
    wl = {
        "kind": kind,
        "name": "web",
        "replicas": 3,
        "rollout": rollout(failure_began_with_latest_rollout=True, previous_revision_healthy=True),
    }
    decision = decide(diagnosis(crash(restarts=6), workload=wl), context())
    assert decision.action is Action.ROLLBACK_DEPLOYMENT
    assert (decision.target.kind, decision.target.name) == (kind, "web")
    assert decision.parameters["revision"] == wl["rollout"]["previous_revision"]


def test_rollback_needs_a_workload_with_a_revision_history() -> None:
    # (Not a Job: a Job's pods are never deleted; see test_policies_pod_kinds.py.)
    wl = {
        "kind": "ReplicaSet",
        "name": "web",
        "replicas": 1,
        "rollout": rollout(failure_began_with_latest_rollout=True, previous_revision_healthy=True),
    }
    decision = decide(diagnosis(crash(restarts=6), workload=wl), context())
    assert decision.action is Action.DELETE_POD


@pytest.mark.parametrize("kind", ["StatefulSet", "DaemonSet"])
def test_no_rollback_without_a_previous_revision(kind: str) -> None:
    wl = {
        "kind": kind,
        "name": "web",
        "replicas": 3,
        "rollout": rollout(
            failure_began_with_latest_rollout=True,
            previous_revision_healthy=True,
            previous_revision=None,
        ),
    }
    decision = decide(diagnosis(crash(restarts=6), workload=wl), context())
    assert decision.action is Action.DELETE_POD


# -- configuration problems -----


@pytest.mark.parametrize(
    "kind",
    ["LivenessProbeFailed", "MissingConfigRef", "CreateContainerConfigError", "ProbeMisconfigured"],
)
def test_config_problem_crash_loop_investigates(kind: str) -> None:
    d = diagnosis(crash(restarts=8), issue(kind, message="configmap app-config not found"))
    decision = decide(d, context())
    assert decision.action is Action.INVESTIGATE_MANUALLY
    assert "restart cannot fix" in decision.reason
    assert decision.issue_type == kind


def test_config_problem_names_the_rollout() -> None:
    wl = deployment(rollout=rollout(failure_began_with_latest_rollout=True))
    d = diagnosis(issue("MissingConfigRef"), workload=wl)
    assert "latest rollout" in decide(d, context()).reason


# -- OOMKilled -----------------------------------------------------------------------------


def test_oom_raises_the_limit_on_the_workload() -> None:
    d = diagnosis(oom(), resources=resources(limit=50 * MI, peak=100 * MI))
    decision = decide(d, context())
    assert decision.action is Action.INCREASE_MEMORY_LIMIT
    assert decision.target == Target("Deployment", "default", "web")
    # peak = max(request, observed peak 100Mi, limit 50Mi); max(100+100, 100*1.2) = 200Mi
    assert decision.parameters == {
        "container": "app",
        "memory_limit_bytes": 200 * MI,
        "previous_memory_limit_bytes": 50 * MI,
    }
    assert decision.allowed_actions == {Action.INCREASE_MEMORY_LIMIT, Action.INVESTIGATE_MANUALLY}


def test_oom_as_last_termination_of_crash_loop() -> None:
    d = diagnosis(
        crash(restarts=5, last_termination_reason="OOMKilled"), resources=resources(limit=512 * MI)
    )
    decision = decide(d, context())
    assert decision.action is Action.INCREASE_MEMORY_LIMIT
    # max(512+100, 512*1.2 = 614.4) -> 615Mi (whole Mi, rounded up)
    assert decision.parameters["memory_limit_bytes"] == 615 * MI


def test_memory_min_bump_wins_for_small_limits() -> None:
    d = diagnosis(oom(), resources=resources(limit=32 * MI))
    assert decide(d, context()).parameters["memory_limit_bytes"] == 132 * MI


def test_memory_capped_by_policy_max() -> None:
    d = diagnosis(oom(), resources=resources(limit=3584 * MI, peak=3584 * MI))
    decision = decide(d, context())
    assert decision.parameters["memory_limit_bytes"] == 4 * GI  # not 4301Mi
    assert "capped" in decision.reason


def test_memory_capped_by_limit_range() -> None:
    d = diagnosis(oom(), resources=resources(limit=100 * MI), limit_range_max_memory_bytes=128 * MI)
    assert decide(d, context()).parameters["memory_limit_bytes"] == 128 * MI


def test_oom_at_the_cap_investigates() -> None:
    d = diagnosis(oom(), resources=resources(limit=128 * MI), limit_range_max_memory_bytes=128 * MI)
    decision = decide(d, context())
    assert decision.action is Action.INVESTIGATE_MANUALLY
    assert "already at the cap" in decision.reason


def test_oom_without_limit_investigates() -> None:
    decision = decide(diagnosis(oom(), resources=resources(limit=None)), context())
    assert decision.action is Action.INVESTIGATE_MANUALLY
    assert "without a memory limit" in decision.reason


def test_oom_unknown_container_resources_investigates() -> None:
    decision = decide(diagnosis(oom(container="sidecar"), resources=resources()), context())
    assert decision.action is Action.INVESTIGATE_MANUALLY


def test_oom_bare_pod_investigates() -> None:
    decision = decide(diagnosis(oom(), workload=None, resources=resources()), context())
    assert decision.action is Action.INVESTIGATE_MANUALLY


def test_oom_job_template_is_not_patched() -> None:
    wl = {"kind": "Job", "name": "web", "replicas": 1}
    decision = decide(diagnosis(oom(), workload=wl, resources=resources()), context())
    assert decision.action is Action.INVESTIGATE_MANUALLY
    assert "Job" in decision.reason


def test_repeated_memory_increases_investigate() -> None:
    ctx = context(
        recent_actions=(
            record(Action.INCREASE_MEMORY_LIMIT, minutes_ago=30),
            record(Action.INCREASE_MEMORY_LIMIT, minutes_ago=10),
        )
    )
    decision = decide(diagnosis(oom(), resources=resources()), ctx)
    assert decision.action is Action.INVESTIGATE_MANUALLY
    assert "leak" in decision.reason


def test_new_memory_limit_formula() -> None:
    assert new_memory_limit(128 * MI, 1.2, 100 * MI) == 228 * MI
    assert new_memory_limit(1000 * MI, 1.2, 100 * MI) == 1200 * MI
    assert new_memory_limit(1000, 1.2, 10) % MI == 0  # rounded up to whole Mi


# -- image pull -----


def pull(type_: str = "ImagePullBackOff") -> dict[str, object]:
    built: dict[str, object] = issue(
        type_, container="app", message="Back-off pulling image nginx:nope"
    )
    return built


@pytest.mark.parametrize("kind", ["ImagePullBackOff", "ErrImagePull", "InvalidImageName"])
def test_image_pull_checks_availability(kind: str) -> None:
    d = diagnosis(
        pull(kind),
        image_pull=[{"container": "app", "image": "nginx:nope", "error_class": "not_found"}],
    )
    decision = decide(d, context())
    assert decision.action is Action.CHECK_IMAGE_AVAILABILITY
    assert "nginx:nope (not_found)" in decision.reason
    assert not decision.writes and decision.safety_checks_passed


def test_image_changed_in_rollout_with_healthy_previous_rolls_back() -> None:
    wl = deployment(
        rollout=rollout(image_changed_in_latest_rollout=True, previous_revision_healthy=True)
    )
    decision = decide(diagnosis(pull(), workload=wl), context())
    assert decision.action is Action.ROLLBACK_DEPLOYMENT
    assert decision.parameters == {"revision": 1}
    assert decision.allowed_actions == {
        Action.ROLLBACK_DEPLOYMENT,
        Action.CHECK_IMAGE_AVAILABILITY,
        Action.INVESTIGATE_MANUALLY,
    }


def test_image_changed_but_previous_never_ran_only_checks() -> None:
    wl = deployment(rollout=rollout(image_changed_in_latest_rollout=True))
    assert decide(diagnosis(pull(), workload=wl), context()).action is (
        Action.CHECK_IMAGE_AVAILABILITY
    )


def test_image_pull_after_rollback_only_checks() -> None:
    wl = deployment(
        rollout=rollout(image_changed_in_latest_rollout=True, previous_revision_healthy=True)
    )
    ctx = context(recent_actions=(record(Action.ROLLBACK_DEPLOYMENT),))
    assert decide(diagnosis(pull(), workload=wl), ctx).action is Action.CHECK_IMAGE_AVAILABILITY


# -- Pending --------------------------------------------------------------------------------

NODES = [
    {
        "name": "kubesim-node-1",
        "allocatable_cpu_millicores": 4000,
        "allocatable_memory_bytes": 8 * GI,
    },
    {
        "name": "kubesim-node-2",
        "allocatable_cpu_millicores": 4000,
        "allocatable_memory_bytes": 8 * GI,
    },
]


def pending(cpu: int = 1000, memory: int = 256 * MI, **sched: object) -> dict[str, object]:
    base: dict[str, object] = {
        "message": "0/2 nodes are available: 2 Insufficient cpu.",
        "insufficient": ["cpu"],
        "request_cpu_millicores": cpu,
        "request_memory_bytes": memory,
        "nodes": NODES,
    }
    base.update(sched)
    return base


def test_pending_never_fits_names_request_and_largest_node() -> None:
    d = diagnosis(issue("Pending"), scheduling=pending(cpu=16000), ready=None)
    decision = decide(d, context())
    assert decision.action is Action.INVESTIGATE_MANUALLY
    assert "no node could ever fit" in decision.reason
    assert "cpu 16000m" in decision.reason
    assert "kubesim-node-1 with cpu 4000m, memory 8Gi" in decision.reason


def test_pending_fits_any_node_false_is_trusted() -> None:
    d = diagnosis(issue("Pending"), scheduling=pending(fits_any_node=False))
    assert "could ever fit" in decide(d, context()).reason


def test_pending_merely_full_scales_down_to_running() -> None:
    d = diagnosis(issue("Pending"), scheduling=pending(), workload=deployment(replicas=5, ready=3))
    decision = decide(d, context())
    assert decision.action is Action.SCALE_DOWN_DEPLOYMENT
    assert decision.target == Target("Deployment", "default", "web")
    assert decision.parameters == {"replicas": 3, "from_replicas": 5}
    assert decision.estimated_risk is Risk.MEDIUM


def test_pending_scale_down_respects_min_replicas() -> None:
    d = diagnosis(issue("Pending"), scheduling=pending(), workload=deployment(replicas=3, ready=1))
    ctx = context(policy(min_replicas=2))
    decision = decide(d, ctx)
    assert decision.action is Action.INVESTIGATE_MANUALLY
    assert "add capacity" in decision.reason


def test_pending_nothing_running_recommends_capacity() -> None:
    d = diagnosis(issue("Pending"), scheduling=pending(), workload=deployment(replicas=2, ready=0))
    decision = decide(d, context())
    assert decision.action is Action.INVESTIGATE_MANUALLY
    assert "add capacity" in decision.reason


def test_pending_bare_pod_recommends_capacity() -> None:
    d = diagnosis(issue("Pending"), scheduling=pending(), workload=None)
    assert "add capacity" in decide(d, context()).reason


def test_pending_fit_unknown_investigates() -> None:
    d = diagnosis(issue("Pending"), scheduling=pending(nodes=[]))
    decision = decide(d, context())
    assert decision.action is Action.INVESTIGATE_MANUALLY
    assert "cannot tell" in decision.reason


def test_pending_for_other_reasons_investigates() -> None:
    sched = pending(insufficient=[], other_reasons=["node(s) had untolerated taint"])
    decision = decide(diagnosis(issue("Pending"), scheduling=sched), context())
    assert decision.action is Action.INVESTIGATE_MANUALLY
    assert "untolerated taint" in decision.reason


def test_pending_insufficient_plus_other_reasons_investigates() -> None:
    sched = pending(other_reasons=["node affinity mismatch"])
    d = diagnosis(issue("Pending"), scheduling=sched, workload=deployment(replicas=5, ready=3))
    assert decide(d, context()).action is Action.INVESTIGATE_MANUALLY


def test_pending_without_scheduling_facts_investigates() -> None:
    assert decide(diagnosis(issue("Pending")), context()).action is Action.INVESTIGATE_MANUALLY


def test_unbound_pvc_investigates() -> None:
    decision = decide(diagnosis(issue("UnboundPVC")), context())
    assert decision.action is Action.INVESTIGATE_MANUALLY
    assert "PersistentVolumeClaim" in decision.reason


# -- Evicted ----------------------------------------------------------------------------------


def test_evicted_managed_pod_is_cleaned_up() -> None:
    decision = decide(diagnosis(issue("Evicted", severity="warning")), context())
    assert decision.action is Action.DELETE_EVICTED_POD
    assert decision.target.kind == "Pod"
    assert decision.estimated_risk is Risk.LOW


def test_evicted_from_status_reason() -> None:
    d = diagnosis(issue("NotReady"), status={"phase": "Failed", "reason": "Evicted"})
    assert decide(d, context()).action is Action.DELETE_EVICTED_POD


def test_evicted_bare_pod_investigates() -> None:
    d = diagnosis(issue("Evicted"), workload=None)
    assert decide(d, context()).action is Action.INVESTIGATE_MANUALLY


# -- precedence -----


def test_oom_wins_over_crash_loop_and_liveness() -> None:
    d = diagnosis(crash(restarts=9), issue("LivenessProbeFailed"), oom(), resources=resources())
    assert decide(d, context()).action is Action.INCREASE_MEMORY_LIMIT


def test_image_pull_wins_over_crash_loop() -> None:
    d = diagnosis(crash(restarts=9, container="init"), pull())
    assert decide(d, context()).action is Action.CHECK_IMAGE_AVAILABILITY


def test_cluster_text_in_reasons_is_bounded() -> None:
    flood = "x" * 10_000
    d = diagnosis(issue("NotReady", message=flood), ready=False)
    decision = decide(d, context())
    assert decision.action is Action.INVESTIGATE_MANUALLY
    assert len(decision.reason) < 500 and decision.reason.endswith("…")
    pulled = diagnosis(
        pull(), image_pull=[{"container": "app", "image": flood, "error_class": "unknown"}]
    )
    assert len(decide(pulled, context()).reason) < 500
