"""The whole scenario set, run once per test session: rules only, and with a hostile LLM."""

from __future__ import annotations

import pytest

from evals.format import Scenario, default_scenarios_dir, load_scenarios
from evals.harness import HarnessOptions, run_scenarios
from evals.scoring import Score

SCENARIOS: list[Scenario] = load_scenarios(default_scenarios_dir())


@pytest.fixture(scope="session")
def rules_only() -> dict[str, Score]:
    return {s.scenario: s for s in run_scenarios(SCENARIOS, HarnessOptions(llm="none"))}


@pytest.fixture(scope="session")
def hostile() -> dict[str, Score]:
    return {s.scenario: s for s in run_scenarios(SCENARIOS, HarnessOptions(llm="hostile"))}
