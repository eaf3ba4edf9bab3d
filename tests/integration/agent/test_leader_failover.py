"""Two `kubemedic watch --leader-elect` processes, one kubesim, SIGKILL the leader mid-incident.

A crash-looping Deployment and a policy that auto-approves pod deletes. Replica A starts first
and takes the Lease; B follows (it answers `/healthz`, `/readyz` and reports
`kubemedic_leader 0`) and opens nothing. A opens the incident and is killed with SIGKILL at
once. B takes the Lease within the lease duration plus a retry (durations scaled down through
the flags: 4 s lease, 3 s renew deadline, 0.5 s retry), adopts the incident as soon as it
leads — its incident lease (10 minutes here) has not run out, so only the leadership explains
the takeover — and finishes it: the pod is deleted exactly once (kubesim's request log),
every write has one intent and one outcome, and every intent names the process that held the
Lease when it wrote (its pid).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from kubesim import KubeSim
from kubesim.store import LEASES
from mcp_server.audit import AuditLog, phases_by_action
from tests.integration.agent.conftest import advance_until, one_pod, restarts, waiting_reason
from tests.integration.agent.test_durability import WAIT, Lines, _env, _pod_deletes, clock_running
from tests.integration.agent.test_scenarios import _core
from tests.integration.manifests import CRASHING

pytestmark = pytest.mark.slow

LEASE_DURATION, RENEW_DEADLINE, RETRY_PERIOD = 4.0, 3.0, 0.5
POLICY = """
name: failover
restart_threshold: 3
protected_namespaces: [kube-system]
agent_namespace: kubemedic
rate_limits:
  global_per_hour: 10
  per_workload_per_hour: 5
  cooldown_per_workload_seconds: 300
auto_approve: [delete_pod]
auto_approve_max_risk: medium
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _watch(env: dict[str, str], cwd: Path, port: int) -> tuple[subprocess.Popen[str], Lines]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kubemedic",
            "watch",
            "--interval",
            "0.5",
            "--leader-elect",
            "--lease-duration",
            str(LEASE_DURATION),
            "--renew-deadline",
            str(RENEW_DEADLINE),
            "--retry-period",
            str(RETRY_PERIOD),
            "--metrics-port",
            str(port),
        ],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    return proc, Lines(proc.stderr)


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _gauge(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not exported")


def _wait(condition: object, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"no {what} within {WAIT}s"
        time.sleep(0.1)


def test_sigkill_the_leader_mid_incident_the_follower_takes_over_and_finishes_once(
    tmp_path: Path,
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    state = tmp_path / "state"
    with KubeSim() as sim:
        sim.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kubemedic"}})
        sim.apply(CRASHING)
        name = one_pod(sim, "web-")["metadata"]["name"]
        _core(sim).patch_namespaced_pod(
            name, "default", {"metadata": {"annotations": {"kubesim.io/crash-after": "2s"}}}
        )
        advance_until(
            sim,
            lambda: (
                waiting_reason(one_pod(sim, "web-")) == "CrashLoopBackOff"
                and restarts(one_pod(sim, "web-")) > 3
            ),
        )
        env = {
            **_env(sim, state),
            "KUBEMEDIC_POLICY": str(policy),
            "KUBEMEDIC_INCIDENT_LEASE_SECONDS": "600",
            "KUBEMEDIC_VERIFY_MAX_CHECKS": "120",
        }
        sim.reset_requests()
        port_a, port_b = _free_port(), _free_port()
        with clock_running(sim):
            a, a_lines = _watch(env, tmp_path, port_a)
            b = b_lines = None
            try:
                a_lines.wait_for("leads (kubemedic/kubemedic-leader)")
                b, b_lines = _watch(env, tmp_path, port_b)
                b_lines.wait_for("follows")
                # The follower serves its endpoints and says it does not lead.
                _wait(lambda: _get(port_b, "/readyz")[0] == 200, "follower ready")
                assert _get(port_b, "/healthz")[0] == 200
                assert _gauge(_get(port_b, "/metrics")[1], "kubemedic_leader") == 0

                a_lines.wait_for("opened ")  # the leader opened the incident ...
                a.send_signal(signal.SIGKILL)  # ... and dies at once
                killed = time.monotonic()
                a.wait(timeout=WAIT)
                a_lines.close()

                b_lines.wait_for("leads (kubemedic/kubemedic-leader)")
                failover = time.monotonic() - killed
                closed = b_lines.wait_for("closed ")
                metrics_b = _get(port_b, "/metrics")[1]
                assert _gauge(metrics_b, "kubemedic_leader") == 1
                assert _gauge(metrics_b, "kubemedic_leader_transitions_total") == 1
            finally:
                for proc in (a, b):
                    if proc is not None and proc.poll() is None:
                        proc.send_signal(signal.SIGTERM)
                if b is not None:
                    b.wait(timeout=WAIT)
                    assert b_lines is not None
                    b_lines.close()
            lease = sim.store.get(LEASES, "kubemedic", "kubemedic-leader")
        deletes = _pod_deletes(sim)

    print(f"failover (SIGKILL -> the new leader's first renewal): {failover:.2f}s")
    # Within the lease duration plus a candidate's retry (jittered), with room for a busy host.
    assert failover <= LEASE_DURATION + RETRY_PERIOD * 2.2 + 3.0
    # B opened nothing while it followed: the only incident was A's, and B finished it.
    assert not any(line.startswith("opened ") for line in b_lines.seen)
    assert "healed" in closed
    # The pod was deleted once, whoever wrote it.
    assert deletes == [f"/api/v1/namespaces/default/pods/{name}"]
    records = AuditLog(state / "audit.jsonl").records()
    writes = phases_by_action(records)
    assert len(writes) == 1
    for phases in writes.values():
        assert set(phases) == {"intent", "outcome"}
        assert phases["intent"]["seq"] < phases["outcome"]["seq"]
    intents = [r for r in records if r.get("phase") == "intent"]
    assert len(intents) == 1
    # The intent names the process that wrote it (host:pid:...): one of the two replicas.
    writers = Counter(
        pid for r in intents for pid in (a.pid, b.pid) if f":{pid}:" in r["details"]["owner"]
    )
    assert sum(writers.values()) == 1, [r["details"]["owner"] for r in intents]
    # A released nothing (killed); B released the Lease on SIGTERM; one takeover is recorded.
    assert lease["spec"]["leaseTransitions"] == 1
    assert lease["spec"]["holderIdentity"] == ""
