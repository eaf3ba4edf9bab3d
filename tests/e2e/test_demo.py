"""`kubemedic demo` as CI runs it: no terminal, no --yes. Every seeded failure ends healed or in
a human's hands, the exit code is 0, and /metrics serves every metric the dashboard reads."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kubemedic.demo_cluster import FAILURES
from mcp_server.approvals import ApprovalStore

from ..unit.observability.promql import SCRAPE_SERIES, references

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gauge": ("",),
}


def _kubemedic() -> list[str]:
    found = shutil.which("kubemedic", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "kubemedic"]


def _dashboard_metrics() -> set[str]:
    dashboard = json.loads((ROOT / "dashboards" / "self-healing-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    return set().union(*(references(e).metrics for e in exprs)) - set(SCRAPE_SERIES)


def _exposed(text: str) -> set[str]:
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names |= {family.name + s for s in _SUFFIXES.get(family.type, ("",))}
    return names


def test_demo_without_a_terminal_heals_or_hands_over_and_serves_metrics(tmp_path: Path) -> None:
    state = tmp_path / "demo"
    env = {**os.environ, "CI": "true", "COLUMNS": "200"}
    env.pop("KUBEMEDIC_LOG_LEVEL", None)
    with (tmp_path / "stderr.log").open("w") as errors:
        proc = subprocess.Popen(
            [*_kubemedic(), "demo", "--state-dir", str(state), "--linger", "15"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        assert proc.stdout is not None
        lines: list[str] = []
        url = None
        metrics_text = None
        for line in proc.stdout:
            lines.append(line)
            if url is None and (found := re.search(r"metrics at (http://\S+/metrics)", line)):
                url = found.group(1)
            if line.startswith("approvals:"):
                # The report is printed; /metrics is still served while the demo lingers.
                assert url is not None
                with urllib.request.urlopen(url, timeout=10) as response:
                    metrics_text = response.read().decode()
                break
        rest, _ = proc.communicate(timeout=120)
        lines.append(rest)
    output = "".join(lines)
    assert proc.returncode == 0, output + (tmp_path / "stderr.log").read_text()[-3000:]

    rows = {
        line.split("│")[1].strip(): [cell.strip() for cell in line.split("│")[1:-1]]
        for line in output.splitlines()
        if line.startswith("│")
    }
    outcomes = {}
    for failure in FAILURES:
        row = next((cells for pod, cells in rows.items() if pod.startswith(failure.name)), None)
        assert row is not None, f"{failure.name} missing from the report:\n{output}"
        outcomes[failure.name] = row[4]
        assert row[1] == failure.expected_issue, row
    assert set(outcomes.values()) <= {"healed", "handed_to_human", "awaiting_approval"}, outcomes
    # Auto-approved by policies/demo.yaml: a fresh pod cures the transient crash.
    assert outcomes["orders"] == "healed"
    # Bare pods are never deleted and memory/rollbacks need a person: nobody answered.
    for bare in ("crashloop-test", "oom-test", "imagepull-test", "resource-hog"):
        assert outcomes[bare] == "handed_to_human"
    assert outcomes["checkout"] == outcomes["reports"] == "awaiting_approval"
    pending = ApprovalStore(state / "approvals.sqlite").list(status="pending")
    assert {a.action for a in pending} == {"rollback_deployment", "increase_memory_limit"}

    assert metrics_text is not None
    missing = _dashboard_metrics() - _exposed(metrics_text)
    assert not missing, f"the dashboard reads metrics the demo does not serve: {sorted(missing)}"
    assert 'healing_success_total{action="delete_pod"' in metrics_text
