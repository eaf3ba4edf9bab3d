"""One run of `kubemedic demo` for the whole suite, as CI runs it: no terminal, no --yes.

The demo is the slowest thing the tests do, so the run is shared: its output, its exit code,
its /metrics scraped while it lingers, and its stderr (JSON log lines).
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.once import once_per_run

ROOT = Path(__file__).resolve().parents[2]
_SERVING = re.compile(r"serving (http://\S+/metrics) for")
LINGER_SECONDS = 15


@dataclass(frozen=True)
class DemoRun:
    output: str
    returncode: int
    metrics_text: str
    stderr: str
    state_dir: Path


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> DemoRun:
    return once_per_run(tmp_path_factory, worker_id, "demo-run", _run_demo)


def _run_demo(work: Path) -> DemoRun:
    state = work / "state"
    stderr_path = work / "stderr.log"
    env = {
        **os.environ,
        "CI": "true",
        "COLUMNS": "200",
        "KUBEMEDIC_LOG_FORMAT": "json",
        "KUBEMEDIC_LOG_LEVEL": "INFO",
    }
    command = [sys.executable, "-m", "kubemedic", "demo", "--state-dir", str(state)]
    command += ["--linger", str(LINGER_SECONDS)]
    with stderr_path.open("w", encoding="utf-8") as stderr:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        lines: queue.Queue[str | None] = queue.Queue()

        def pump() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                lines.put(line)
            lines.put(None)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        output: list[str] = []
        metrics_text = ""
        try:
            while True:
                # The demo gives up by itself after its own deadline (150 s by default).
                line = lines.get(timeout=300)
                if line is None:
                    break
                output.append(line)
                found = _SERVING.search(line)
                if found:
                    with urllib.request.urlopen(found.group(1), timeout=10) as response:
                        metrics_text = response.read().decode()
            returncode = process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
            reader.join(timeout=30)
            if process.stdout is not None:
                process.stdout.close()
    return DemoRun(
        output="".join(output),
        returncode=returncode,
        metrics_text=metrics_text,
        stderr=stderr_path.read_text(encoding="utf-8"),
        state_dir=state,
    )
