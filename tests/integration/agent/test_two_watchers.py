"""Several `kubemedic watch` processes: every write happens once.

Fifteen crash-looping Deployments, a policy that auto-approves pod deletes with a global limit
of 10 per hour and a 300 s cooldown per workload, and two watch processes sharing one state
directory against one kubesim. Whatever the interleaving: no pod is deleted twice, at most 10
deletes succeed, every applied write has exactly one intent record before exactly one outcome
record, and `kubemedic audit verify` passes. The same with three processes on three state
directories that share only a PostgreSQL database (`KUBEMEDIC_DATABASE_URL`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from kubesim import KubeSim
from kubesim.store import PODS
from mcp_server.audit import AuditLog, phases_by_action
from tests.integration.agent.conftest import restarts, waiting_reason
from tests.integration.agent.test_durability import WAIT, _env, _watch, clock_running

pytestmark = pytest.mark.slow

WORKLOADS = 15
LIMIT = 10

POLICY = f"""
name: two-watchers
restart_threshold: 3
protected_namespaces: [kube-system]
agent_namespace: kubemedic
rate_limits:
  global_per_hour: {LIMIT}
  per_workload_per_hour: 5
  cooldown_per_workload_seconds: 300
auto_approve: [delete_pod, increase_memory_limit]
auto_approve_max_risk: medium
"""


def _crashing(index: int) -> str:
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: crash-{index:02d}, namespace: default}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: crash-{index:02d}}}}}
  template:
    metadata: {{labels: {{app: crash-{index:02d}}}}}
    spec:
      containers:
      - name: app
        image: busybox
        command: ["sh", "-c", "exit 1"]
"""


def _all_looping(sim: KubeSim) -> bool:
    pods = [p for p in sim.store.list(PODS) if p["metadata"]["name"].startswith("crash-")]
    return len(pods) == WORKLOADS and all(
        waiting_reason(p) == "CrashLoopBackOff" and restarts(p) > 3 for p in pods
    )


def _applied(trail: Path | str) -> int:
    if isinstance(trail, Path) and not trail.exists():
        return 0
    return sum(1 for r in AuditLog(trail).records() if r.get("result") == "applied")


def _run_watchers(
    tmp_path: Path, states: list[Path], trail: Path | str, extra: dict[str, str]
) -> tuple[list[dict[str, Any]], list[Any]]:
    """Fifteen crash loops, one `kubemedic watch` per state directory, until the global
    limit is spent; the audit records and the successful pod deletes."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    with KubeSim() as sim:
        for index in range(WORKLOADS):
            sim.apply(_crashing(index))
        waited = 0.0
        while not _all_looping(sim):
            assert waited < 3600, "the deployments did not reach CrashLoopBackOff"
            sim.advance(5)
            waited += 5
        sim.reset_requests()
        with clock_running(sim):
            watchers = [
                _watch({**_env(sim, state), "KUBEMEDIC_POLICY": str(policy), **extra}, tmp_path)
                for state in states
            ]
            try:
                deadline = time.monotonic() + WAIT * 2
                # Until the global limit is spent (every process then only gets refusals).
                while _applied(trail) < LIMIT:
                    assert time.monotonic() < deadline, (
                        f"{_applied(trail)} writes applied before the deadline"
                    )
                    for proc, lines in watchers:
                        assert proc.poll() is None, "\n".join(lines.tail(80))
                    time.sleep(0.2)
            finally:
                for proc, _ in watchers:
                    proc.send_signal(signal.SIGTERM)
                for proc, lines in watchers:
                    proc.wait(timeout=WAIT)
                    lines.close()
        deletes = [
            r
            for r in sim.requests
            if r.verb == "delete" and r.resource == "pods" and r.status < 300
        ]
    return AuditLog(trail).records(), deletes


def _check(records: list[dict[str, Any]], deletes: list[Any], processes: int) -> None:
    # No pod was deleted twice, and no more than the limit were.
    per_pod = Counter(r.path for r in deletes)
    assert all(count == 1 for count in per_pod.values()), per_pod
    assert len(deletes) <= LIMIT
    writes = phases_by_action(records)
    applied = [phases for phases in writes.values() if phases["outcome"]["result"] == "applied"]
    assert len(applied) == len(deletes) == LIMIT
    for action_id, phases in writes.items():
        assert set(phases) == {"intent", "outcome"}, action_id
        assert phases["intent"]["seq"] < phases["outcome"]["seq"]
    for phase in ("intent", "outcome"):
        counted = Counter(r["details"]["action_id"] for r in records if r.get("phase") == phase)
        assert all(count == 1 for count in counted.values()), (phase, counted)
    initiators = {r["initiator"] for r in records if r.get("phase") == "intent"}
    assert initiators == {"kubemedic-agent"}
    owners = Counter(r["details"]["owner"] for r in records if r.get("phase") == "intent")
    print("intents per process:", dict(owners))
    assert len(owners) <= processes


def test_two_watchers_write_each_target_once_within_the_limits(tmp_path: Path) -> None:
    state = tmp_path / "state"
    records, deletes = _run_watchers(tmp_path, [state, state], state / "audit.jsonl", {})
    _check(records, deletes, 2)
    checked = subprocess.run(
        [sys.executable, "-m", "kubemedic", "audit", "verify", str(state / "audit.jsonl")],
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_three_replicas_sharing_only_postgresql_write_each_target_once(
    tmp_path: Path, postgres_url: str
) -> None:
    """Three watch processes, each on its own state directory (nothing shared on disk), one
    PostgreSQL database: the limits, the one-write-per-target rule and the chain still hold."""
    states = [tmp_path / f"replica-{n}" for n in range(3)]
    extra = {"KUBEMEDIC_DATABASE_URL": postgres_url}
    records, deletes = _run_watchers(tmp_path, states, postgres_url, extra)
    _check(records, deletes, 3)
    for state in states:  # nothing of the shared state went to disk
        assert not (state / "audit.jsonl").exists()
        assert not (state / "state.sqlite").exists()
        assert not (state / "incidents.sqlite").exists()
    checked = subprocess.run(
        [sys.executable, "-m", "kubemedic", "audit", "verify"],
        capture_output=True,
        text=True,
        timeout=WAIT,
        env={**os.environ, **extra},
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "OK" in checked.stdout and "audit_records" in checked.stdout
