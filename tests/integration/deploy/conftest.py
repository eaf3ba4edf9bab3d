"""The shared pass over every tool against kubesim (see flows.py), run once per test run."""

from __future__ import annotations

import pytest

from tests.fixtures.once import once_per_run

from .flows import Run, run_everything


@pytest.fixture(scope="session")
def run(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Run:
    return once_per_run(tmp_path_factory, worker_id, "deploy-run", run_everything)
