"""The scenario catalogue: every hand-written family regenerates the reviewed YAML exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.tools.catalogue import CATALOGUE, FAMILIES
from evals.tools.catalogue.common import ScenarioFn
from evals.tools.gen_scenarios import HEADER, render

SCENARIOS = Path(__file__).resolve().parents[3] / "evals" / "scenarios"

HAND_WRITTEN = [fn for family in FAMILIES for fn in family.SCENARIOS]


@pytest.mark.parametrize("fn", HAND_WRITTEN, ids=lambda fn: fn.__name__)
def test_each_hand_written_scenario_regenerates_its_file_byte_for_byte(fn: ScenarioFn) -> None:
    name, text = render(fn)
    assert text.startswith(HEADER)
    assert (SCENARIOS / f"{name}.yaml").read_text() == text


def test_every_family_contributes_and_no_builder_is_listed_twice() -> None:
    assert all(family.SCENARIOS for family in FAMILIES)
    assert len({id(fn) for fn in CATALOGUE}) == len(CATALOGUE)
    # One file per scenario, none left over from a renamed or removed one.
    assert len(list(SCENARIOS.glob("*.yaml"))) == len(CATALOGUE)


def test_names_are_unique_across_the_hand_written_families() -> None:
    names = [render(fn)[0] for fn in HAND_WRITTEN]
    assert len(names) == len(set(names)) == len(HAND_WRITTEN)
