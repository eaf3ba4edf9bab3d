"""/metrics after real healing: every metric the dashboard and the alerts read is exposed, and
the healing series carry the labels the panels group by."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from ...unit.observability.promql import SCRAPE_SERIES, references
from .flows import NS, WRITE_ACTIONS, Run

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.slow

_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "gauge": ("",),
}


def _exposed(run: Run) -> tuple[set[str], list[Sample]]:
    status, text = run.http["/metrics"]
    assert status == 200
    names: set[str] = set()
    samples: list[Sample] = []
    for family in text_string_to_metric_families(text):
        # A labelled metric with no series yet is still announced by HELP and TYPE lines.
        names |= {family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",))}
        samples.extend(family.samples)
    return names, samples


def _dashboard_and_alert_metrics() -> set[str]:
    dashboard = json.loads(
        (ROOT / "dashboards" / "self-healing-dashboard.json").read_text(encoding="utf-8")
    )
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    rules = yaml.safe_load((ROOT / "k8s" / "prometheus" / "rules.yaml").read_text(encoding="utf-8"))
    exprs += [r["expr"] for g in rules["groups"] for r in g["rules"]]
    return set().union(*(references(e).metrics for e in exprs)) - set(SCRAPE_SERIES)


def _server_metrics() -> set[str]:
    """Sample names of the metrics mcp_server/metrics.py defines (the agent's are served by the
    composed process, `kubemedic watch` / `demo`, not by the server alone)."""
    import mcp_server.metrics as server

    out: set[str] = set()
    for value in vars(server).values():
        if isinstance(value, MetricWrapperBase):
            out |= {value._name + suffix for suffix in _SUFFIXES.get(value._type or "", ("",))}
    return out


def test_every_server_metric_the_dashboard_and_alerts_read_is_exposed(run: Run) -> None:
    names, _ = _exposed(run)
    wanted = _dashboard_and_alert_metrics() & _server_metrics()
    assert len(wanted) >= 10
    assert wanted - names == set()


def test_healing_series_have_the_labels_the_panels_use(run: Run) -> None:
    _, samples = _exposed(run)

    def series(name: str) -> list[Sample]:
        return [s for s in samples if s.name == name and s.labels.get("namespace") == NS]

    attempted = {s.labels["action"] for s in series("healing_attempts_total") if s.value > 0}
    succeeded = {s.labels["action"] for s in series("healing_success_total") if s.value > 0}
    assert WRITE_ACTIONS <= attempted, attempted
    assert succeeded, "no healing succeeded"
    buckets = series("healing_duration_seconds_bucket")
    assert buckets and all({"pod", "action", "le"} <= set(s.labels) for s in buckets)
    assert any(s.name == "pod_health_score" for s in samples)
    api = {
        (s.labels["verb"], s.labels["resource"])
        for s in samples
        if s.name == "kubemedic_k8s_api_requests_total"
    }
    assert {("delete", "pods"), ("patch", "deployments"), ("create", "events")} <= api
    tools = {s.labels["tool"] for s in samples if s.name == "kubemedic_tool_calls_total"}
    assert tools >= set(run.tools_called)


def test_probes_answer_without_an_mcp_session(run: Run) -> None:
    status, body = run.http["/healthz"]
    assert status == 200 and json.loads(body)["status"] == "ok"
    status, body = run.http["/readyz"]
    assert status in (200, 503) and json.loads(body)["status"] in ("ready", "not ready")
