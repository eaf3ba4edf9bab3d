"""Replicas starting together on one fresh PostgreSQL database all open the checkpointer.

LangGraph's PostgreSQL checkpointer applies its own migrations on `setup()`; several processes
doing that at the same moment used to race on the migration rows (a duplicate key), and the
losing `kubemedic watch` ended at start. Real processes, released together by a file barrier.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fixtures.postgres import TempPostgres

pytestmark = pytest.mark.slow

PROCESSES = 6
ROUNDS = 2

_CHILD = """
import asyncio, sys, time
from pathlib import Path
from agent.runner import open_checkpointer

async def main(url: str, go: Path, ready: Path) -> None:
    ready.touch()
    while not go.exists():
        time.sleep(0.01)
    async with open_checkpointer(url) as saver:
        await saver.aget_tuple({"configurable": {"thread_id": "probe"}})

asyncio.run(main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])))
"""


def test_simultaneous_replicas_all_set_up_the_checkpointer(
    tmp_path: Path, postgres_server: TempPostgres
) -> None:
    for round_ in range(ROUNDS):
        url = postgres_server.create_database()
        go = tmp_path / f"go-{round_}"
        children = [
            subprocess.Popen(
                [sys.executable, "-c", _CHILD, url, str(go), str(tmp_path / f"ready-{round_}-{n}")],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for n in range(PROCESSES)
        ]
        # Once every child has imported and waits at the barrier, all go at once.
        deadline = time.monotonic() + 120
        while len(list(tmp_path.glob(f"ready-{round_}-*"))) < PROCESSES:
            assert time.monotonic() < deadline, "the children did not start"
            assert all(child.poll() is None for child in children)
            time.sleep(0.05)
        go.touch()
        failures = []
        for child in children:
            _, stderr = child.communicate(timeout=120)
            if child.returncode != 0:
                failures.append(stderr[-2000:])
        postgres_server.drop_database(url)
        assert not failures, "\n---\n".join(failures)
