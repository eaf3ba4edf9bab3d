"""docs/decision-table.md stays true: every action it names exists, and every action appears."""

from __future__ import annotations

import re
from pathlib import Path

from policies import Action, load_policy

DOC = Path(__file__).resolve().parents[3] / "docs" / "decision-table.md"


def rows() -> list[list[str]]:
    text = DOC.read_text()
    table = text.split("## Rows (first match wins)")[1].split("\n## ")[0]
    lines = [line for line in table.splitlines() if re.match(r"^\| \d+ \|", line)]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def test_every_row_names_a_real_action() -> None:
    found = rows()
    assert len(found) >= 20
    names = {a.value for a in Action}
    for number, (index, _when, action, risk, _target) in enumerate(found, start=1):
        assert index == str(number)
        named = re.findall(r"`([a-z_]+)`", action)
        assert named, action
        assert named[0] in names, named[0]
        assert risk in {"low", "medium", "high"}


def test_every_action_is_in_the_table() -> None:
    named = {re.findall(r"`([a-z_]+)`", row[2])[0] for row in rows()}
    assert named == {a.value for a in Action}


def test_every_policy_field_is_documented() -> None:
    text = DOC.read_text()
    data = load_policy().model_dump()
    for key, value in data.items():
        if key == "name":
            continue
        if isinstance(value, dict):
            for sub in value:
                assert f"{key}.{sub}" in text, f"{key}.{sub}"
        else:
            assert f"`{key}`" in text, key
