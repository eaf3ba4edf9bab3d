"""No class over 300 lines and no function over 60 in agent/, mcp_server/ and policies/."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("size_report", ROOT / "tools" / "size_report.py")
assert _spec is not None and _spec.loader is not None
size_report = importlib.util.module_from_spec(_spec)
sys.modules["size_report"] = size_report  # its dataclass looks its module up
_spec.loader.exec_module(size_report)


def test_every_unit_of_the_small_rooms_is_within_its_limit() -> None:
    found = [unit for room in size_report.ROOMS for unit in size_report.units(room)]
    assert len(found) > 500  # the walk saw the code
    assert size_report.over_limit(found) == []


def test_the_limit_check_sees_a_long_function() -> None:
    long = size_report.Unit(61, "x.py:1", "long", "def")
    fine = size_report.Unit(300, "x.py:9", "Fine", "class")
    assert size_report.over_limit([long, fine]) == [long]
