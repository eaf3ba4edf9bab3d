"""The Grafana dashboard: importable into Grafana 10+; every query reads what the code exports."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

# The metrics are registered at import: these two modules are the whole exported surface.
import agent.metrics  # noqa: F401
import mcp_server.metrics  # noqa: F401

from .promql import exported_series, label_values_query, problems, references

DASHBOARD = Path(__file__).resolve().parents[3] / "dashboards" / "self-healing-dashboard.json"


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))  # panels inside collapsed rows
    return [p for p in out if p.get("type") != "row"]


def _queries(dashboard: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(where, expr, legend) for every PromQL expression in the dashboard."""
    found = []
    for panel in _panels(dashboard):
        for t in panel.get("targets", []):
            found.append(
                (f"panel {panel['title']!r} {t['refId']}", t["expr"], t.get("legendFormat", ""))
            )
    for var in dashboard["templating"]["list"]:
        if var["type"] != "query":
            continue
        query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        parsed = label_values_query(query)
        if parsed is None:
            found.append((f"variable {var['name']}", query, ""))
        else:
            metric, label = parsed
            assert metric is not None, "label_values without a metric scans every series"
            found.append((f"variable {var['name']}", f"sum by ({label}) ({metric})", ""))
    return found


def test_every_query_names_exported_metrics_and_labels(dashboard: dict[str, Any]) -> None:
    exported = exported_series()
    queries = _queries(dashboard)
    assert len(queries) >= 20
    report = [
        f"{where}: {p}" for where, expr, legend in queries for p in problems(expr, exported, legend)
    ]
    assert report == []


def test_the_checker_catches_unknown_metrics_and_labels() -> None:
    exported = exported_series()
    assert problems('sum(rate(healing_attempts_total{namespace="a"}[5m]))', exported) == []
    assert problems("sum(rate(healing_attempts[5m]))", exported) == [
        "metric 'healing_attempts' is not exported"
    ]
    assert problems('kubemedic_pods_monitored{issue_type="x"}', exported) == [
        "metric 'kubemedic_pods_monitored' has no label 'issue_type'"
    ]
    assert problems("sum by (pod) (kubemedic_unhealthy_pods)", exported) == [
        "label 'pod' (by/on/without) is on none of the metrics used"
    ]
    assert problems("kubemedic_unhealthy_pods", exported, "{{reason}}") == [
        "legend uses label 'reason' that the query does not have"
    ]


def test_grafana_10_with_a_prometheus_datasource_variable(dashboard: dict[str, Any]) -> None:
    assert dashboard["schemaVersion"] >= 38  # Grafana 10.0
    assert dashboard["uid"] and dashboard["title"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in _panels(dashboard):
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        for t in panel["targets"]:
            assert t["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    assert variables["namespace"]["datasource"]["uid"] == "${datasource}"


def test_panel_ids_are_unique_and_the_grid_has_no_overlap(dashboard: dict[str, Any]) -> None:
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        g = panel["gridPos"]
        assert g["x"] + g["w"] <= 24, panel["title"]
        mine = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not (mine & cells), f"{panel['title']!r} overlaps another panel"
        cells |= mine


def _by_title(dashboard: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["title"]: p for p in _panels(dashboard)}


def _exprs(panel: dict[str, Any]) -> list[str]:
    return [t["expr"] for t in panel["targets"]]


def test_the_required_panels_are_there(dashboard: dict[str, Any]) -> None:
    panels = _by_title(dashboard)
    # Health overview
    assert "kubemedic_pods_monitored" in references(_exprs(panels["Pods monitored"])[0]).metrics
    assert "kubemedic_unhealthy_pods" in references(_exprs(panels["Unhealthy pods"])[0]).metrics
    rate = panels["Healing success rate"]
    assert rate["type"] == "stat"
    assert references(_exprs(rate)[0]).metrics == {
        "healing_success_total",
        "healing_attempts_total",
    }
    assert rate["fieldConfig"]["defaults"]["unit"] == "percentunit"
    # Healing activity timeline: attempts, and success vs failure
    assert panels["Healing attempts over time"]["type"] == "timeseries"
    legends = [t["legendFormat"] for t in panels["Success vs failure"]["targets"]]
    assert legends == ["success", "failure"]
    # Issue types distribution
    pie = panels["Issue types distribution"]
    assert pie["type"] == "piechart"
    assert "issue_type" in references(_exprs(pie)[0]).grouping_labels
    # Top problematic pods
    table = panels["Top problematic pods"]
    assert table["type"] == "table"
    assert any(e.startswith(("topk(", "bottomk(")) for e in _exprs(table))
    assert all({"namespace", "pod"} <= references(e).grouping_labels for e in _exprs(table))
    # Healing performance: average, p95, p99
    perf = _exprs(panels["Healing duration"])
    assert "healing_duration_seconds_sum" in perf[0] and "healing_duration_seconds_count" in perf[0]
    assert (
        perf[1].startswith("histogram_quantile(0.95,")
        and "healing_duration_seconds_bucket" in perf[1]
    )
    assert (
        perf[2].startswith("histogram_quantile(0.99,")
        and "healing_duration_seconds_bucket" in perf[2]
    )
    for expr in perf[1:]:
        assert "le" in references(expr).grouping_labels


def test_every_exported_kubemedic_metric_is_on_the_dashboard(dashboard: dict[str, Any]) -> None:
    """The reverse direction: a metric nobody can see is a metric nobody maintains."""
    used = set().union(*(references(expr).metrics for _, expr, _ in _queries(dashboard)))
    ours = {
        name
        for name in exported_series()
        if name.startswith(("kubemedic_", "healing_", "pod_health_score"))
        and not name.endswith("_created")
    }
    # A histogram is on the dashboard when any of its series is.
    missing = {
        name
        for name in ours - used
        if not any(
            name.rsplit("_", 1)[0] == u.rsplit("_", 1)[0] for u in used if u.endswith("_bucket")
        )
    }
    assert missing == set()


# What Grafana puts in place of its variables when it sends a query (one plausible choice).
_GRAFANA_VALUES = {
    "${datasource}": "prometheus",
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1h",
    "$namespace": ".*",
}


def _as_sent(expr: str) -> str:
    for variable, value in _GRAFANA_VALUES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"unknown Grafana variable in {expr!r}"
    return expr


def _promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool is missing: apt-get install -y prometheus"
    return path


def test_every_query_is_valid_promql(dashboard: dict[str, Any], tmp_path: Path) -> None:
    """promtool parses each query (as a recording rule), as Prometheus would."""
    rules = [
        {"record": f"dashboard:query_{i}", "expr": _as_sent(expr)}
        for i, (_, expr, _) in enumerate(_queries(dashboard))
    ]
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run(
        [_promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_healing_panels_count_pods_healed_once(dashboard: dict[str, Any], tmp_path: Path) -> None:
    """Each healed pod has its own series, born at 1: the panels must still count it.

    Three pods get one attempt each inside the last hour (one of them healed); a fourth was
    attempted two hours ago. Over a 1h range: 3 attempts, success rate 1/3.
    """
    panels = _by_title(dashboard)
    attempts = _as_sent(_exprs(panels["Healing attempts"])[0])
    success_rate = _as_sent(_exprs(panels["Healing success rate"])[0])

    def series(name: str, pod: str, values: str) -> dict[str, str]:
        labels = f'namespace="shop",pod="{pod}",action="delete_pod"'
        return {"series": f"{name}{{{labels}}}", "values": values}

    test = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    series("healing_attempts_total", "old", "_x10 1x170"),
                    series("healing_attempts_total", "a", "_x130 1x50"),
                    series("healing_attempts_total", "b", "_x140 1x40"),
                    series("healing_attempts_total", "c", "_x150 1x30"),
                    series("healing_success_total", "c", "_x152 1x28"),
                ],
                "promql_expr_test": [
                    {
                        "expr": attempts,
                        "eval_time": "3h",
                        "exp_samples": [{"labels": "{}", "value": 3}],
                    },
                    {
                        "expr": success_rate,
                        "eval_time": "3h",
                        "exp_samples": [{"labels": "{}", "value": 1 / 3}],
                    },
                    # What a rate-based query would have shown: nothing at all.
                    {
                        "expr": "sum(increase(healing_attempts_total[1h]))",
                        "eval_time": "3h",
                        "exp_samples": [{"labels": "{}", "value": 0}],
                    },
                ],
            }
        ],
    }
    path = tmp_path / "dashboard-test.yaml"
    path.write_text(yaml.safe_dump(test))
    result = subprocess.run(
        [_promtool(), "test", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
