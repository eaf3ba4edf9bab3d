"""The stop line of `kubemedic watch` tells waiting-for-a-human from in-flight incidents."""

from __future__ import annotations

from agent.incidents import Incident
from agent.runner import IncidentStatus
from agent.watch_summary import WatchSummary, report_of, stage_of


def _incident(number: int, status: str = "open", outcome: str | None = None) -> Incident:
    return Incident(
        id=f"inc-{number}",
        workload=f"default/Deployment/web-{number}",
        namespace="default",
        pod_name=f"web-{number}-abcde",
        issue_type="CrashLoopBackOff",
        status=status,
        outcome=outcome,
        opened_at=f"2026-01-01T00:00:0{number}Z",
        closed_at=None if status == "open" else "2026-01-01T00:01:00Z",
    )


def _status(next_nodes: tuple[str, ...], *, pending: bool = False) -> IncidentStatus:
    return IncidentStatus(
        incident_id="inc",
        values={"action": "delete_pod", "timeline": []},
        next=next_nodes,
        pending={"approval_id": "appr-1"} if pending else None,
    )


def test_stage_of_an_open_thread() -> None:
    assert stage_of(_status(("approve",), pending=True)) == "approval"
    assert stage_of(_status(("act",))) == "in_flight"  # the write may be under way
    assert stage_of(_status(("verify",))) == "in_flight"  # applied, being verified
    assert stage_of(_status(("diagnose",))) == "open"
    assert stage_of(_status(("escalate",))) == "open"
    assert stage_of(IncidentStatus(incident_id="inc")) == "open"  # not started yet


def test_a_closed_incident_has_no_stage() -> None:
    report = report_of(_incident(1, "closed", "healed"), _status(()))
    assert report.outcome == "healed" and report.stage is None


def test_stop_line_counts_approvals_and_actions_in_flight_apart() -> None:
    reports = [
        report_of(_incident(1), _status(("approve",), pending=True)),
        report_of(_incident(2), _status(("verify",))),
        report_of(_incident(3), _status(("act",))),
        report_of(_incident(4, "closed", "handed_to_human"), _status(())),
    ]
    summary = WatchSummary(polls=7, incidents=reports)
    assert len(summary.pending) == 3
    assert summary.stop_line() == (
        "stopped after 7 polls; 1 incident(s) wait for approval, 2 in flight (resume on restart)"
    )


def test_stop_line_names_other_open_incidents_only_when_there_are_some() -> None:
    nothing = WatchSummary(polls=2)
    assert nothing.stop_line() == (
        "stopped after 2 polls; 0 incident(s) wait for approval, 0 in flight (resume on restart)"
    )
    diagnosing = WatchSummary(polls=2, incidents=[report_of(_incident(1), _status(("gate",)))])
    assert diagnosing.stop_line().endswith(", 1 other open (continue on restart)")
