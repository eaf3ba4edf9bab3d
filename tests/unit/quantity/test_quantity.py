"""The one quantity module: the API server's grammar, exact numbers, and formats that read back
as what they were written from (exactly, or within the rounding they promise)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubemedic_quantity import (
    GI,
    KI,
    MI,
    cpu_millicores,
    format_cpu,
    format_memory,
    format_memory_rounded,
    memory_bytes,
    parse_memory,
    parse_quantity,
    parse_quantity_or_none,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("64Mi", Decimal(64 * MI)),
        ("1.5Gi", Decimal(3 * 2**29)),
        ("100m", Decimal("0.1")),
        ("250u", Decimal("0.00025")),
        ("981234567n", Decimal("0.981234567")),
        ("1k", Decimal(1000)),
        ("1K", Decimal(1000)),
        ("2M", Decimal(2 * 10**6)),
        ("1e3", Decimal(1000)),
        ("1E", Decimal(10**18)),
        ("1E3", Decimal(1000)),
        (" 512 Mi ", Decimal(512 * MI)),
        (".5", Decimal("0.5")),
        ("-1", Decimal(-1)),
        (7, Decimal(7)),
    ],
)
def test_parse_follows_the_api_grammar(text: str | int, expected: Decimal) -> None:
    assert parse_quantity(text) == expected


@pytest.mark.parametrize(
    "junk", ["", "Mi", "12Qi", "1ki", "1mi", "NaN", "Infinity", "1_000", "1e3Mi", "1e999", "abc"]
)
def test_parse_refuses_what_the_api_refuses(junk: str) -> None:
    with pytest.raises(ValueError):
        parse_quantity(junk)
    assert parse_quantity_or_none(junk) is None


@pytest.mark.parametrize("junk", [None, True, [], {}, "-5Mi", float("nan"), float("inf")])
def test_lenient_parsers_answer_none(junk: object) -> None:
    assert parse_quantity_or_none(junk) is None
    assert memory_bytes(junk) is None and cpu_millicores(junk) is None


def test_rounding_up_to_what_the_api_would_keep() -> None:
    assert cpu_millicores("981234n") == 1 and cpu_millicores("1.5") == 1500
    assert memory_bytes("100m") == 1 and memory_bytes("51380Ki") == 51380 * KI


def test_parse_memory_is_strict_and_names_the_value() -> None:
    assert parse_memory("512Mi") == 512 * MI and parse_memory(1024) == 1024
    assert parse_memory(2048.0) == 2048
    for bad in ("-1Mi", "Mi", True, "1 Xi", None, 1.5):
        with pytest.raises(ValueError, match="512Mi"):
            parse_memory(bad)


def test_formats() -> None:
    assert [format_memory(v) for v in (2**30, 3 * MI, 5 * KI, 1000, 0)] == [
        "1Gi",
        "3Mi",
        "5Ki",
        "1000",
        "0",
    ]
    assert format_memory(-69 * MI) == "-69Mi"
    assert [format_memory_rounded(v) for v in (GI, 256 * MI, 51380 * KI, 150 * MI + 1, 10)] == [
        "1Gi",
        "256Mi",
        "50.2Mi",
        "150Mi",
        "1Ki",
    ]
    assert [format_cpu(v) for v in (150, 2000, 0, -2000)] == ["150m", "2", "0m", "-2"]


# -- properties ------------------------------------------------------------------------------

_bytes = st.integers(min_value=0, max_value=2**62)


@given(_bytes)
def test_exact_memory_reads_back_as_the_same_bytes(value: int) -> None:
    text = format_memory(value)
    assert parse_quantity(text) == value
    assert memory_bytes(text) == value and parse_memory(text) == value


@given(st.integers(min_value=-(2**40), max_value=2**40))
def test_exact_memory_round_trips_negative_differences_too(value: int) -> None:
    assert parse_quantity(format_memory(value)) == value


@given(_bytes)
def test_rounded_memory_reads_back_within_its_rounding(value: int) -> None:
    back = memory_bytes(format_memory_rounded(value))
    assert back is not None
    # One decimal of Mi below 100Mi, whole Mi above, whole Ki below 1Mi (at least 1Ki).
    assert abs(back - value) <= max(KI, value * 0.05)


@given(st.integers(min_value=0, max_value=10**9))
def test_cpu_reads_back_as_the_same_millicores(millicores: int) -> None:
    assert cpu_millicores(format_cpu(millicores)) == millicores


@given(st.decimals(min_value=0, max_value=10**9, places=6, allow_nan=False))
def test_millicores_round_up(value: Decimal) -> None:
    found = cpu_millicores(str(value))
    assert found is not None
    cores = Decimal(found) / 1000
    assert value <= cores < value + Decimal("0.001")
