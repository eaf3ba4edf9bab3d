"""Kill -9 while an approval is pending, start again, approve: the action runs exactly once.

The commands run as a user runs them (`kubemedic watch`, `kubemedic approvals approve`), each
in its own process, against kubesim served from this process. The scenario is set up on the
manual clock; then a driver thread moves kubesim's clock on (about 40 simulated seconds per
wall second) because the child processes wait in wall time.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest

from agent.incidents import IncidentRegistry
from kubesim import KubeSim
from mcp_server.approvals import ApprovalStore
from tests.integration.agent.conftest import advance_until, one_pod, restarts, waiting_reason
from tests.integration.agent.test_scenarios import _core
from tests.integration.manifests import CRASHING

pytestmark = pytest.mark.slow

WAIT = 120.0  # wall seconds any one step may take on a loaded machine


class Lines:
    """A child process's stderr, line by line, with a deadline per wait."""

    def __init__(self, stream: IO[str]) -> None:
        self.seen: list[str] = []
        self._stream = stream
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._pump_thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._pump_thread.start()

    def close(self) -> None:
        self._pump_thread.join(timeout=WAIT)  # the child is gone: the pipe ends
        self._stream.close()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def tail(self, count: int = 20) -> list[str]:
        """The last `count` lines, including those nobody waited for yet (for a failure message
        about a child that ended early)."""
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.seen.append(line)
        return self.seen[-count:]

    def wait_for(self, text: str) -> str:
        while True:
            try:
                line = self._queue.get(timeout=WAIT)
            except queue.Empty:
                raise AssertionError(
                    f"no {text!r} within {WAIT}s; got: {self.seen[-20:]}"
                ) from None
            if line is None:
                raise AssertionError(f"process ended before {text!r}; got: {self.seen[-20:]}")
            self.seen.append(line)
            print(f"{time.monotonic():.1f} {line}")
            if text in line:
                return line


@pytest.fixture
def fast_sim() -> Iterator[KubeSim]:
    with KubeSim() as cluster:
        yield cluster


@contextmanager
def clock_running(sim: KubeSim, speed: float = 40.0, tick: float = 0.02) -> Iterator[None]:
    """Advance kubesim's manual clock from a thread, like a cluster whose time goes on."""
    stop = threading.Event()

    def drive() -> None:
        while not stop.wait(tick):
            sim.advance(tick * speed, step=tick * speed)

    driver = threading.Thread(target=drive, name="clock-driver", daemon=True)
    driver.start()
    try:
        yield
    finally:
        stop.set()
        driver.join(timeout=10)


def _env(sim: KubeSim, state: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "KUBEMEDIC_KUBECONFIG": str(sim.kubeconfig_path),
            "KUBEMEDIC_STATE_DIR": str(state),
            "KUBEMEDIC_LLM": "none",
            "KUBEMEDIC_LOG_LEVEL": "WARNING",
            "KUBEMEDIC_VERIFY_INTERVAL_SECONDS": "0.5",
            "KUBEMEDIC_VERIFY_MAX_CHECKS": "60",
            "COLUMNS": "250",
        }
    )
    env.pop("KUBECONFIG", None)
    return env


def _watch(env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen[str], Lines]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubemedic", "watch", "--interval", "0.5"],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    return proc, Lines(proc.stderr)


def _pod_deletes(sim: KubeSim) -> list[str]:
    """Pod deletes sent for real (asking for an approval dry-runs the delete first)."""
    return [
        r.path
        for r in sim.requests
        if r.verb == "delete" and r.resource == "pods" and "dryRun=All" not in (r.query or "")
    ]


def test_kill_while_waiting_then_approve_runs_the_action_once(
    fast_sim: KubeSim, tmp_path: Path
) -> None:
    sim = fast_sim
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
    state = tmp_path / "state"
    # The killed process's incident lease runs out after 5 s, not the default 30 s: the
    # restarted one adopts the incident then (one process at a time here).
    env = {**_env(sim, state), "KUBEMEDIC_INCIDENT_LEASE_SECONDS": "5"}
    sim.reset_requests()

    with clock_running(sim):
        _kill_approve_and_check(sim, env, tmp_path, state, name)


def _kill_approve_and_check(
    sim: KubeSim, env: dict[str, str], tmp_path: Path, state: Path, name: str
) -> None:
    first, lines = _watch(env, tmp_path)
    try:
        line = lines.wait_for("approval needed")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=WAIT)
        lines.close()
    approval_id = line.split("approvals approve ", 1)[1].split()[0]
    assert _pod_deletes(sim) == []
    store = ApprovalStore(state / "state.sqlite")
    pending = store.get(approval_id)
    assert pending is not None and pending.status == "pending"
    opened = IncidentRegistry(state / "incidents.sqlite").open_incidents()
    assert len(opened) == 1

    second, lines = _watch(env, tmp_path)
    try:
        # The restarted loop finds the same incident still waiting and opens no other.
        again = lines.wait_for("approval needed")
        assert approval_id in again
        assert not any(line.startswith("opened") for line in lines.seen)
        approved = subprocess.run(
            [
                sys.executable,
                "-m",
                "kubemedic",
                "approvals",
                "approve",
                approval_id,
                "--by",
                "alice",
            ],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=WAIT,
        )
        assert approved.returncode == 0, approved.stdout + approved.stderr
        assert "healed" in approved.stdout, approved.stdout
        lines.wait_for(f"closed {opened[0].id}")
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=WAIT)
        lines.close()

    assert len(_pod_deletes(sim)) == 1
    assert _pod_deletes(sim)[0].endswith(f"/pods/{name}")
    consumed = store.get(approval_id)
    assert consumed is not None and consumed.status == "consumed"
    first_incident = IncidentRegistry(state / "incidents.sqlite").get(opened[0].id)
    assert first_incident is not None and first_incident.outcome == "healed"
    from mcp_server.audit import AuditLog, verify

    records = AuditLog(state / "audit.jsonl").records()
    assert [r["result"] for r in records if r["action"] == "delete_pod"] == [
        "refused",
        "intent",
        "applied",
    ]
    assert verify(state / "audit.jsonl").ok
