"""Kill -9 while an applied pod delete is being verified, start again: the incident resumes at
verification on the workload, sees that the replacement pod crash-loops too, and escalates
instead of calling the deleted pod's absence "resolved". One delete, one chain that verifies.

`kubemedic watch` runs as a user runs it, in its own process, against kubesim served from this
process (a driver thread moves kubesim's clock on, as in test_durability).
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.incidents import IncidentRegistry
from kubesim import KubeSim
from mcp_server.audit import AuditLog, phases_by_action
from tests.integration.agent.conftest import advance_until, one_pod, restarts, waiting_reason
from tests.integration.agent.test_durability import (
    WAIT,
    _env,
    _pod_deletes,
    _watch,
    clock_running,
)
from tests.integration.manifests import CRASHER

pytestmark = pytest.mark.slow

# Pod deletes without asking; a second delete of the workload within the hour is refused.
POLICY = """
name: delete-without-asking
restart_threshold: 3
protected_namespaces: [kube-system]
agent_namespace: kubemedic
rate_limits:
  global_per_hour: 20
  per_workload_per_hour: 5
  cooldown_per_workload_seconds: 3600
auto_approve: [delete_pod]
auto_approve_max_risk: medium
"""


@pytest.fixture
def sim() -> Iterator[KubeSim]:
    with KubeSim() as cluster:
        yield cluster


def test_kill_while_verifying_a_delete_resumes_verification_and_escalates(
    sim: KubeSim, tmp_path: Path
) -> None:
    sim.apply(CRASHER)  # the crash is in the template: the replacement crashes as well
    name = one_pod(sim, "crasher-")["metadata"]["name"]
    advance_until(
        sim,
        lambda: (
            waiting_reason(one_pod(sim, "crasher-")) == "CrashLoopBackOff"
            and restarts(one_pod(sim, "crasher-")) > 3
        ),
    )
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    state = tmp_path / "state"
    env = {
        **_env(sim, state),
        "KUBEMEDIC_POLICY": str(policy),
        # The killed process's lease runs out after 5 s: the restarted one adopts it then.
        "KUBEMEDIC_INCIDENT_LEASE_SECONDS": "5",
    }
    sim.reset_requests()
    with clock_running(sim):
        first, lines = _watch(env, tmp_path)
        try:
            verifying = lines.wait_for("verify: verifying")
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=WAIT)
            lines.close()
        assert not any("closed" in line for line in lines.seen), lines.seen
        assert [path.rsplit("/", 1)[1] for path in _pod_deletes(sim)] == [name]
        opened = IncidentRegistry(state / "incidents.sqlite").open_incidents()
        assert len(opened) == 1
        incident = opened[0]

        second, lines = _watch(env, tmp_path)
        try:
            resumed = lines.wait_for("verify:")
            closed = lines.wait_for(f"closed {incident.id}")
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=WAIT)
            lines.close()
        stopped = [line for line in lines.tail(200) if line.startswith("stopped after")]

    # Resumed at the verification of the same delete, judged on the workload (its
    # replacement pods), not on the deleted pod's absence.
    assert not any(line.startswith("opened") for line in lines.seen), lines.seen
    action_id = verifying.rsplit("action ", 1)[1]
    assert "verify: verifying delete_pod on Deployment/crasher" in resumed, resumed
    before = lines.seen[: lines.seen.index(resumed)]
    assert not any(step in line for line in before for step in ("diagnose:", "act:")), before
    assert resumed.endswith(f"action {action_id}"), (resumed, verifying)
    assert not any("diagnose: target_gone" in line for line in lines.seen), lines.seen
    assert any("verify: not_healed" in line for line in lines.seen), lines.seen
    assert any("escalate:" in line for line in lines.seen), lines.seen
    outcome = IncidentRegistry(state / "incidents.sqlite").get(incident.id)
    assert outcome is not None and outcome.status == "closed"
    assert outcome.outcome not in ("resolved", "healed"), (outcome, closed)
    assert outcome.outcome in ("handed_to_human", "not_healed", "blocked"), (outcome, closed)
    # One delete, of the pod the first process decided on.
    assert [path.rsplit("/", 1)[1] for path in _pod_deletes(sim)] == [name]
    records = AuditLog(state / "audit.jsonl").records()
    writes = phases_by_action(records)
    assert [phases["outcome"]["result"] for phases in writes.values()] == ["applied"]
    checked = subprocess.run(
        [sys.executable, "-m", "kubemedic", "audit", "verify", str(state / "audit.jsonl")],
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # Nothing was left open when the second process stopped.
    assert stopped == [
        f"stopped after {stopped[0].split()[2]} polls; 0 incident(s) wait for approval, "
        "0 in flight (resume on restart)"
    ], stopped


def test_killed_between_intent_and_write_the_restart_writes_once_more(
    sim: KubeSim, tmp_path: Path
) -> None:
    """The watch process dies (SIGKILL, at the server's `after_intent` fault point) after its
    intent record and before the delete. On restart the server reads the cluster and records
    the intent not applied; the incident then deletes under a new key: one delete in all, two
    intents each with one outcome, and the incident does not end `failed`."""
    sim.apply(CRASHER)
    name = one_pod(sim, "crasher-")["metadata"]["name"]
    advance_until(
        sim,
        lambda: (
            waiting_reason(one_pod(sim, "crasher-")) == "CrashLoopBackOff"
            and restarts(one_pod(sim, "crasher-")) > 3
        ),
    )
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    state = tmp_path / "state"
    env = {
        **_env(sim, state),
        "KUBEMEDIC_POLICY": str(policy),
        "KUBEMEDIC_INCIDENT_LEASE_SECONDS": "5",
    }
    sim.reset_requests()
    with clock_running(sim):
        first, lines = _watch({**env, "KUBEMEDIC_FAULT_POINT": "after_intent"}, tmp_path)
        try:
            assert first.wait(timeout=WAIT) == -signal.SIGKILL, lines.tail(40)
        finally:
            lines.close()
        assert _pod_deletes(sim) == []
        opened = IncidentRegistry(state / "incidents.sqlite").open_incidents()
        assert len(opened) == 1

        second, lines = _watch(env, tmp_path)
        try:
            lines.wait_for("act: not_applied_before")
            lines.wait_for(f"closed {opened[0].id}")
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=WAIT)
            lines.close()

    assert [path.rsplit("/", 1)[1] for path in _pod_deletes(sim)] == [name]
    writes = phases_by_action(AuditLog(state / "audit.jsonl").records())
    assert sorted(phases["outcome"]["result"] for phases in writes.values()) == [
        "applied",
        "not_applied",
    ]
    assert all(set(phases) == {"intent", "outcome"} for phases in writes.values())
    outcome = IncidentRegistry(state / "incidents.sqlite").get(opened[0].id)
    assert outcome is not None and outcome.outcome != "failed", outcome
