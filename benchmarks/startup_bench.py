"""How long `kubemedic mcp` (stdio) takes from process start to an answered `initialize`.

An MCP host starts the server as a child process and waits for it: this is the time a user
waits before the first tool is usable. The server runs against kubesim with its pod cache (as
`kubemedic mcp` runs by default); the figure is the median of five starts, plus the import
time of `kubemedic mcp --help` (`python -X importtime`, the CLI's own cost). Target: 1.5 s.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from kubesim import KubeSim

RUNS = 5
TARGET_SECONDS = 1.5


def kubemedic_executable() -> str:
    return str(Path(sys.executable).with_name("kubemedic"))


async def time_to_initialized(params: StdioServerParameters) -> float:
    started = time.perf_counter()
    with anyio.fail_after(60):
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            elapsed = time.perf_counter() - started
    return elapsed


def import_seconds(*args: str) -> float:
    """Total import time (self + children of the top-level imports) of `python -X importtime`."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "kubemedic", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    total_us = 0
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|", 2)
        if cumulative.strip().isdigit() and not name.startswith("  "):  # top level only
            total_us += int(cumulative)
    return total_us / 1e6


def main() -> int:
    with KubeSim() as sim, tempfile.TemporaryDirectory() as tmp:
        params = StdioServerParameters(
            command=kubemedic_executable(),
            args=["mcp"],
            env={
                **os.environ,
                "KUBEMEDIC_KUBECONFIG": str(sim.kubeconfig_path),
                "KUBEMEDIC_STATE_DIR": str(Path(tmp) / "state"),
                "KUBEMEDIC_LOG_LEVEL": "WARNING",
            },
        )
        times = [anyio.run(time_to_initialized, params) for _ in range(RUNS)]
    median = statistics.median(times)
    print(
        f"kubemedic mcp (stdio) start -> initialized: median {median:.2f}s of {RUNS} "
        f"(min {min(times):.2f}s, max {max(times):.2f}s; target {TARGET_SECONDS}s)"
    )
    print(f"imports of `kubemedic mcp --help`: {import_seconds('mcp', '--help'):.2f}s")
    return 0 if median <= TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
