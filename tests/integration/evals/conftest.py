"""The whole scenario set, run once per test run: rules only, and with a hostile LLM."""

from __future__ import annotations

import pytest

from evals.format import Scenario, default_scenarios_dir, load_scenarios
from evals.harness import HarnessOptions, run_scenarios
from evals.scoring import Score
from tests.fixtures.once import once_per_run

SCENARIOS: list[Scenario] = load_scenarios(default_scenarios_dir())


def _scores(llm: str) -> dict[str, Score]:
    return {s.scenario: s for s in run_scenarios(SCENARIOS, HarnessOptions(llm=llm))}


@pytest.fixture(scope="session")
def rules_only(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> dict[str, Score]:
    return once_per_run(tmp_path_factory, worker_id, "eval-rules-only", lambda _: _scores("none"))


@pytest.fixture(scope="session")
def hostile(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> dict[str, Score]:
    return once_per_run(tmp_path_factory, worker_id, "eval-hostile", lambda _: _scores("hostile"))
