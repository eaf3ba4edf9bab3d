"""`kubemedic demo --clusters 2` as CI runs it: one agent heals the same failures in two
simulated clusters; every write's audit records, the pending approvals and the heal metrics
name their cluster, and the shared audit chain verifies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mcp_server.approvals import ApprovalStore, split_target_key
from mcp_server.audit import verify

ROOT = Path(__file__).resolve().parents[2]
CLUSTERS = ("kubesim-1", "kubesim-2")
pytestmark = pytest.mark.slow


def test_one_demo_agent_heals_both_clusters(tmp_path: Path) -> None:
    state = tmp_path / "state"
    run = subprocess.run(
        [sys.executable, "-m", "kubemedic", "demo", "--clusters", "2", "--state-dir", str(state)],
        cwd=ROOT,
        env={**os.environ, "CI": "true", "COLUMNS": "200", "KUBEMEDIC_LOG_LEVEL": "WARNING"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-3000:]

    # The report has one row per (cluster, failure); the transient crash heals in both.
    rows = [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in run.stdout.splitlines()
        if line.startswith("│") and line.split("│")[1].strip()
    ]
    healed = {(row[0], row[1].split("-")[0]) for row in rows if row[5] == "healed"}
    assert {(cluster, "orders") for cluster in CLUSTERS} <= healed, run.stdout

    # Every write record names its cluster, both clusters wrote, and the one chain verifies.
    audit = state / "audit.jsonl"
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    writes = [r for r in records if r.get("phase") in ("intent", "outcome")]
    assert {r.get("cluster") for r in writes} == set(CLUSTERS)
    assert verify(audit).ok

    # The approvals wait per cluster: the same two actions, once in each.
    pending = ApprovalStore(state / "state.sqlite").list(status="pending")
    asked = {(split_target_key(a.target)[0], a.action) for a in pending}
    assert asked == {
        (cluster, action)
        for cluster in CLUSTERS
        for action in ("rollback_deployment", "increase_memory_limit")
    }

    # The per-cluster heal counter, from the run's metrics snapshot.
    snapshot = (state / "metrics.prom").read_text()
    successes = {
        sample.labels["cluster"]
        for family in text_string_to_metric_families(snapshot)
        for sample in family.samples
        if sample.name == "kubemedic_cluster_healing_success_total" and sample.value >= 1
    }
    assert successes == set(CLUSTERS)
