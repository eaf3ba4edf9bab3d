"""Kubernetes resource quantities (`64Mi`, `100m`, `1.5Gi`, `1e3`): parsed once, written once.

Every room reads quantities: the diagnostics from pod specs and PodMetrics, the policy file
for its memory fields, the agent from tool results, the CLI for its reports. They all parse and
format here, so `512Mi` means the same number everywhere and a limit the server writes reads
back as the bytes it was decided from.

The grammar is the API server's (`<signed number><suffix>`, where the suffix is a binary SI
unit `Ki`..`Ei`, a decimal SI unit `n`, `u`, `m`, `k`, `M`..`E`, or a decimal exponent `e3`),
plus the upper-case `K` and surrounding whitespace that hand-written policy files use. It
imports only the standard library, so every room may use it.
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, Decimal, InvalidOperation

__all__ = [
    "GI",
    "KI",
    "MI",
    "cpu_millicores",
    "format_cpu",
    "format_memory",
    "format_memory_rounded",
    "memory_bytes",
    "parse_memory",
    "parse_quantity",
    "parse_quantity_or_none",
]

KI = 2**10
MI = 2**20
GI = 2**30

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -3, "u": -2, "m": -1, "k": 1, "K": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6}
_QUANTITY = re.compile(
    r"\s*(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))\s*"
    r"(?:(?P<exponent>[eE][+-]?[0-9]+)|(?P<suffix>[KMGTPE]i|[numkKMGTPE]))?\s*"
)
# Far beyond any real quantity; keeps `1e999999` from turning into a huge integer.
_MAX_EXPONENT = 60


def parse_quantity(value: str | int | float | Decimal) -> Decimal:
    """A quantity as an exact Decimal ("64Mi" -> 67108864, "100m" -> 0.1).

    Raises ValueError for anything the API server would not take (and for booleans,
    non-finite numbers and absurd exponents)."""
    if isinstance(value, bool):
        raise ValueError(f"not a quantity: {value!r}")
    if isinstance(value, int | float | Decimal):
        number = Decimal(value)
        if not number.is_finite():
            raise ValueError(f"not a finite quantity: {value!r}")
        return number
    if not isinstance(value, str):
        raise ValueError(f"not a quantity: {value!r}")
    match = _QUANTITY.fullmatch(value)
    if match is None:
        raise ValueError(f"not a quantity: {value!r}")
    try:
        number = Decimal(match["number"])
        if match["exponent"] is not None:
            exponent = int(match["exponent"][1:])
            if abs(exponent) > _MAX_EXPONENT:
                raise ValueError(f"quantity out of range: {value!r}")
            return number.scaleb(exponent)
        suffix = match["suffix"]
        if suffix is None:
            return number
        if suffix in _BINARY:
            return number * (Decimal(1024) ** _BINARY[suffix])
        return number.scaleb(3 * _DECIMAL[suffix])
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only numbers
        raise ValueError(f"not a quantity: {value!r}") from exc


def parse_quantity_or_none(value: object) -> Decimal | None:
    """A quantity from untrusted data (a pod spec, a metrics sample, a tool result): None when
    it is absent, not a quantity, or negative."""
    if not isinstance(value, str | int | float | Decimal) or isinstance(value, bool):
        return None
    try:
        parsed = parse_quantity(value)
    except ValueError:
        return None
    return parsed if parsed >= 0 else None


def cpu_millicores(value: object) -> int | None:
    """CPU in millicores, rounded up (as the API does for sub-milli quantities); None when
    absent or invalid."""
    parsed = parse_quantity_or_none(value)
    if parsed is None:
        return None
    return int((parsed * 1000).to_integral_value(rounding=ROUND_CEILING))


def memory_bytes(value: object) -> int | None:
    """Memory in bytes, rounded up; None when absent or invalid."""
    parsed = parse_quantity_or_none(value)
    if parsed is None:
        return None
    return int(parsed.to_integral_value(rounding=ROUND_CEILING))


def parse_memory(value: object) -> int:
    """Bytes from a memory quantity a person wrote (`512Mi`, `1G`, `1048576`, an int).

    The strict form, for configuration: raises ValueError (naming the value) where
    `memory_bytes` would answer None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        found = memory_bytes(value)
        if found is not None:
            return found
    raise ValueError(f"expected a memory quantity such as 512Mi, got {value!r}")


def format_cpu(millicores: int) -> str:
    """Millicores as kubectl writes them: whole cores bare (`2`), the rest in `m` (`250m`)."""
    if millicores and millicores % 1000 == 0:
        return str(millicores // 1000)
    return f"{millicores}m"


def format_memory(value: int) -> str:
    """Bytes in the largest binary unit that divides them (`1Gi`, `1536Mi`, `5Ki`), else bare
    bytes (`1000`): lossless, so what is written reads back as the same number."""
    for unit, size in (("Gi", GI), ("Mi", MI), ("Ki", KI)):
        if value and value % size == 0:
            return f"{value // size}{unit}"
    return str(value)


def format_memory_rounded(value: int) -> str:
    """Bytes as `kubectl top` shows them: whole `Gi`, else `Mi` (one decimal below 100Mi),
    else `Ki`. For people: it rounds (see `format_memory` for what is written)."""
    if value >= GI and value % GI == 0:
        return f"{value // GI}Gi"
    if value >= MI or value == 0:
        mib = value / MI
        return f"{mib:.0f}Mi" if mib == int(mib) or mib >= 100 else f"{mib:.1f}Mi"
    return f"{max(1, round(value / KI))}Ki"
