from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mcp_server.diagnostics._obj import clip, i, lst, m, parse_time, s


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-24T17:12:28Z", datetime(2026, 11, 24, 17, 12, 28, tzinfo=UTC)),
        ("2026-11-24T17:12:12.525457Z", datetime(2026, 11, 24, 17, 12, 12, 525457, tzinfo=UTC)),
        # The kubelet writes nanoseconds; Python keeps microseconds.
        ("2026-11-24T17:14:41.201938471Z", datetime(2026, 11, 24, 17, 14, 41, 201938, tzinfo=UTC)),
        ("2026-11-24T18:12:28+01:00", datetime(2026, 11, 24, 17, 12, 28, tzinfo=UTC)),
    ],
)
def test_parse_time(text: str, expected: datetime) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize(
    "junk", [None, "", "yesterday", 12, "2026-13-45T99:00:00Z", "2026-11-24T1"]
)
def test_parse_time_rejects_junk(junk: object) -> None:
    assert parse_time(junk) is None


def test_accessors_are_forgiving() -> None:
    obj = {"a": {"b": [{"c": 1}, "x", None], "n": True, "k": 3, "t": "v"}}
    assert m(obj, "a", "missing") == {}
    assert m(obj, "a", "t") == {}
    assert lst(obj, "a", "b") == [{"c": 1}]
    assert lst(obj, "a", "t") == []
    assert i(obj, "a", "n") is None  # a bool is not a count
    assert i(obj, "a", "k") == 3
    assert s(obj, "a", "t") == "v" and s(obj, "a", "k") is None
    assert m(None, "a") == {} and lst("x", "a") == []


def test_clip() -> None:
    assert clip("abc", 5) == "abc"
    assert clip("abcdef", 4) == "abc…"
    assert len(clip("x" * 1000, 500)) == 500
