"""The decision table's rows for the kinds that make pods fail (docs/decision-table.md):
a Job's pods are never deleted, nodes and claims are never touched; each is handed over with
the command a human may run."""

from __future__ import annotations

import pytest
from policies_builders import context, crash, diagnosis, issue

from policies import Action, LLMProposal, allowed_actions, decide, gate

JOB = {"kind": "Job", "name": "report"}
CRON = {"kind": "CronJob", "name": "nightly"}


def test_failed_job_is_handed_over_with_the_logs_command() -> None:
    d = diagnosis(
        issue("JobFailed", message="Job report failed: BackoffLimitExceeded"),
        issue("Error", container="report", exit_code=3),
        workload=JOB,
        job={"name": "report", "failed": True, "last_log_lines": ["ERROR upload failed"]},
    )
    decision = decide(d, context())
    assert decision.action is Action.INVESTIGATE_MANUALLY
    assert decision.issue_type == "JobFailed"
    assert "BackoffLimitExceeded" in decision.reason and "ERROR upload failed" in decision.reason
    assert decision.parameters["command"] == "kubectl logs job/report -n default"
    assert str(decision.parameters["rerun_command"]).startswith("kubectl delete job report")
    assert decision.allowed_actions == {Action.INVESTIGATE_MANUALLY}


def test_cronjob_rerun_command_creates_a_job_from_the_cronjob() -> None:
    d = diagnosis(
        issue("CronJobFailing", message="CronJob nightly: last run failed"),
        workload=CRON,
        job={"name": "nightly-29944426", "cronjob": "nightly"},
        cronjob={"name": "nightly"},
    )
    decision = decide(d, context())
    assert decision.action is Action.INVESTIGATE_MANUALLY
    assert decision.parameters["rerun_command"] == (
        "kubectl create job --from=cronjob/nightly nightly-manual -n default"
    )
    assert decision.parameters["command"] == "kubectl logs job/nightly-29944426 -n default"


@pytest.mark.parametrize("workload", [JOB, CRON])
def test_a_job_pods_crash_loop_or_eviction_is_never_a_delete(workload: dict[str, str]) -> None:
    for d in (
        diagnosis(crash(restarts=9), workload=workload),
        diagnosis(issue("Evicted", severity="warning"), workload=workload),
    ):
        decision = decide(d, context())
        assert decision.action is Action.INVESTIGATE_MANUALLY, decision.reason
        assert "never deleted" in decision.reason
        assert Action.DELETE_POD not in allowed_actions(d, context())
        assert Action.DELETE_EVICTED_POD not in allowed_actions(d, context())
        assert gate(decision, LLMProposal(action="delete_pod")).vetoed


def test_node_not_ready_names_cordon_and_drain_for_a_human() -> None:
    d = diagnosis(
        issue("NodeNotReady", message="node n1 is not ready"),
        crash(restarts=9),
        node={"name": "n1", "ready": "Unknown"},
    )
    decision = decide(d, context())
    assert decision.action is Action.INVESTIGATE_MANUALLY
    assert decision.parameters["command"] == "kubectl cordon n1"
    assert decision.parameters["drain_command"] == (
        "kubectl drain n1 --ignore-daemonsets --delete-emptydir-data"
    )
    assert "Deployment/web replaces the pod" in decision.reason


def test_pvc_pending_names_the_claim_and_its_class() -> None:
    d = diagnosis(
        issue("PVCPending", message="claim data is Pending"),
        issue("Pending", message="unbound"),
        claims=[{"name": "data", "phase": "Pending", "storage_class": "rk-fast"}],
    )
    decision = decide(d, context())
    assert decision.action is Action.INVESTIGATE_MANUALLY
    assert decision.issue_type == "PVCPending"
    assert decision.parameters["command"] == "kubectl describe pvc data -n default"
    assert decision.parameters["class_command"] == "kubectl get storageclass rk-fast"


@pytest.mark.parametrize(
    "kind", ["ServiceNoReadyEndpoints", "StatefulSetRolloutStuck", "DaemonSetPodsMissing"]
)
def test_findings_about_the_surroundings_are_informational(kind: str) -> None:
    decision = decide(diagnosis(issue(kind, severity="warning")), context())
    assert decision.action is Action.INVESTIGATE_MANUALLY
    assert decision.issue_type == kind and "informational" in decision.reason


def test_the_pods_own_failure_decides_beside_a_surroundings_finding() -> None:
    d = diagnosis(crash(restarts=9), issue("ServiceNoReadyEndpoints", severity="warning"))
    assert decide(d, context()).action is Action.DELETE_POD


@pytest.mark.parametrize("action", ["drain_node", "delete_pvc", "cordon_node", "delete_job"])
def test_actions_outside_the_closed_enum_are_vetoed(action: str) -> None:
    d = diagnosis(issue("NodeNotReady"), node={"name": "n1"})
    result = gate(decide(d, context()), LLMProposal(action=action))
    assert result.vetoed and result.veto_reason == f"unknown action {action!r}"
    assert result.decision.action is Action.INVESTIGATE_MANUALLY
