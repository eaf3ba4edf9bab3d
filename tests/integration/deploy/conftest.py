"""The shared pass over every tool against kubesim (see flows.py), run once per test run.

Two test files read it; with several xdist workers the first worker to ask makes it and the
others read what it wrote (an exclusive file lock around the shared copy), instead of every
worker paying for the same pass.
"""

from __future__ import annotations

import fcntl
import pickle

import pytest

from .flows import Run, run_everything


@pytest.fixture(scope="session")
def run(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Run:
    if worker_id == "master":  # not distributed
        return run_everything(tmp_path_factory.mktemp("state"))
    shared = tmp_path_factory.getbasetemp().parent  # common to every worker of this run
    copy = shared / "deploy-run.pickle"
    with (shared / "deploy-run.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if copy.is_file():
            made: Run = pickle.loads(copy.read_bytes())
            return made
        made = run_everything(shared / "deploy-run-state")
        copy.write_bytes(pickle.dumps(made))
        return made
