"""Leader failover: SIGKILL the leading `kubemedic watch --leader-elect`, time until the
follower's first successful write of the Lease as its holder (its "leads" line).

Two real processes against kubesim over HTTP with the default durations (lease 15 s, renew
deadline 10 s, retry 2 s): the follower may take the Lease once `renewTime + 15 s` has passed,
and it looks every 2-4.4 s (client-go's jitter), so expect 13-20 s depending on where in the
renewal cycle the kill lands. `FAILOVER_RUNS` (default 1) repeats it.
"""

from __future__ import annotations

import os
import queue
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

from kubesim import KubeSim

DEADLINE = 120.0


def _lines(stream: IO[str]) -> queue.Queue[tuple[float, str]]:
    out: queue.Queue[tuple[float, str]] = queue.Queue()

    def pump() -> None:
        for line in stream:
            out.put((time.monotonic(), line.rstrip("\n")))

    threading.Thread(target=pump, daemon=True).start()
    return out


def _wait_for(lines: queue.Queue[tuple[float, str]], text: str) -> float:
    end = time.monotonic() + DEADLINE
    while True:
        at, line = lines.get(timeout=max(0.1, end - time.monotonic()))
        if text in line:
            return at


def _watch(env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen[str], queue.Queue[Any]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubemedic", "watch", "--leader-elect", "--interval", "1"],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    return proc, _lines(proc.stderr)


def once(sim: KubeSim, work: Path) -> float:
    env = dict(os.environ)
    env.update(
        {
            "KUBEMEDIC_KUBECONFIG": str(sim.kubeconfig_path),
            "KUBEMEDIC_STATE_DIR": str(work / "state"),
            "KUBEMEDIC_LLM": "none",
            "KUBEMEDIC_LOG_LEVEL": "ERROR",
        }
    )
    env.pop("KUBECONFIG", None)
    leader, leader_lines = _watch(env, work)
    follower = None
    try:
        _wait_for(leader_lines, "leads (")
        follower, follower_lines = _watch(env, work)
        _wait_for(follower_lines, "follows")
        killed = time.monotonic()
        leader.send_signal(signal.SIGKILL)
        leader.wait(timeout=DEADLINE)
        return _wait_for(follower_lines, "leads (") - killed
    finally:
        for proc in (leader, follower):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=DEADLINE)


def main() -> int:
    runs = int(os.environ.get("FAILOVER_RUNS", "1"))
    seconds = []
    with KubeSim() as sim:
        sim.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kubemedic"}})
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as tmp:
                seconds.append(once(sim, Path(tmp)))
    print(
        f"leader failover (SIGKILL -> new leader's first renewal, lease 15 s / renew deadline "
        f"10 s / retry 2 s, {runs} run(s)): "
        + ", ".join(f"{s:.1f}s" for s in seconds)
        + (f"; median {statistics.median(seconds):.1f}s" if runs > 1 else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
