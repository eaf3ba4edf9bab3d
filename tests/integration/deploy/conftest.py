"""The shared pass over every tool against kubesim (see flows.py), run once per session."""

from __future__ import annotations

import pytest

from .flows import Run, run_everything


@pytest.fixture(scope="session")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run_everything(tmp_path_factory.mktemp("state"))
