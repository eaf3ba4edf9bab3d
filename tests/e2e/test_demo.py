"""`kubemedic demo` as CI runs it (no terminal, no --yes): every seeded failure ends healed or in
a human's hands, the exit code is 0, /metrics serves every metric the dashboard and the alert
rules read, with real healing samples, and stderr is the structured log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from kubemedic.demo_cluster import FAILURES
from mcp_server.approvals import ApprovalStore
from mcp_server.audit import verify

from ..unit.observability.promql import SCRAPE_SERIES, references
from .conftest import DemoRun

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "gauge": ("",),
}


def _report_rows(output: str) -> dict[str, list[str]]:
    return {
        line.split("│")[1].strip(): [cell.strip() for cell in line.split("│")[1:-1]]
        for line in output.splitlines()
        if line.startswith("│")
    }


def _outcomes(run: DemoRun) -> dict[str, str]:
    rows = _report_rows(run.output)
    outcomes = {}
    for failure in FAILURES:
        row = next((cells for pod, cells in rows.items() if pod.startswith(failure.name)), None)
        assert row is not None, f"{failure.name} missing from the report:\n{run.output}"
        assert row[1] == failure.expected_issue, row
        outcomes[failure.name] = row[4]
    return outcomes


def test_the_demo_exits_cleanly_with_every_failure_dealt_with(demo_run: DemoRun) -> None:
    assert demo_run.returncode == 0, demo_run.output + demo_run.stderr[-3000:]
    outcomes = _outcomes(demo_run)
    assert set(outcomes.values()) <= {"healed", "handed_to_human", "awaiting_approval"}, outcomes
    # Auto-approved by policies/demo.yaml: a fresh pod cures the transient crash.
    assert outcomes["orders"] == "healed"
    # Bare pods are never deleted, and a deterministic crash survives a restart.
    for human in ("crashloop-test", "oom-test", "imagepull-test", "resource-hog", "payments"):
        assert outcomes[human] == "handed_to_human", (human, outcomes)


def test_high_risk_actions_wait_for_a_human_when_nobody_is_at_the_terminal(
    demo_run: DemoRun,
) -> None:
    outcomes = _outcomes(demo_run)
    assert outcomes["checkout"] == outcomes["reports"] == "awaiting_approval"
    pending = ApprovalStore(demo_run.state_dir / "state.sqlite").list(status="pending")
    assert {a.action for a in pending} == {"rollback_deployment", "increase_memory_limit"}


def test_the_audit_chain_of_the_demo_verifies(demo_run: DemoRun) -> None:
    audit = demo_run.state_dir / "audit.jsonl"
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    assert {"delete_pod", "rollback_deployment", "increase_memory_limit"} <= {
        r["action"] for r in records
    }
    result = verify(audit)
    assert result.ok, result


def _wanted_metrics() -> set[str]:
    dashboard = json.loads((ROOT / "dashboards" / "self-healing-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    rules = yaml.safe_load((ROOT / "k8s" / "prometheus" / "rules.yaml").read_text())
    exprs += [r["expr"] for g in rules["groups"] for r in g["rules"]]
    return set().union(*(references(e).metrics for e in exprs)) - set(SCRAPE_SERIES)


def test_every_metric_the_dashboard_and_alerts_read_is_exposed(demo_run: DemoRun) -> None:
    assert demo_run.metrics_text, "the demo did not serve /metrics while it lingered"
    exposed: set[str] = set()
    for family in text_string_to_metric_families(demo_run.metrics_text):
        exposed |= {family.name + s for s in _SUFFIXES.get(family.type, ("",))}
    wanted = _wanted_metrics()
    assert len(wanted) >= 20
    assert wanted - exposed == set()


def test_the_demo_left_real_healing_samples(demo_run: DemoRun) -> None:
    families = text_string_to_metric_families(demo_run.metrics_text)
    samples = [s for f in families for s in f.samples]
    names = {s.name for s in samples if s.value > 0}
    for name in (
        "healing_attempts_total",
        "healing_success_total",
        "healing_duration_seconds_count",
        "kubemedic_pods_monitored",
        "kubemedic_issues_detected_total",
        "kubemedic_incidents_total",
        "kubemedic_k8s_api_requests_total",
        "kubemedic_tool_calls_total",
        "kubemedic_approvals_pending",
    ):
        assert name in names, f"{name} has no sample above zero"
    healed = [s for s in samples if s.name == "healing_success_total" and s.value > 0]
    assert all({"namespace", "pod", "action"} <= set(s.labels) for s in healed)
    assert any(s.labels["action"] == "delete_pod" for s in healed)


def test_stderr_is_json_lines_carrying_the_incident_fields(demo_run: DemoRun) -> None:
    records = [json.loads(line) for line in demo_run.stderr.splitlines() if line.strip()]
    assert records, "the demo logged nothing at INFO"
    for record in records:
        assert {"ts", "level", "logger", "message"} <= set(record)
    with_incident = [r for r in records if "incident_id" in r]
    assert with_incident, "no log line carries an incident_id"
    assert all(r.get("thread_id") == r["incident_id"] for r in with_incident if "thread_id" in r)
    assert any("target" in r for r in with_incident)
