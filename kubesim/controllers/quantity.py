"""Kubernetes resource quantities ("250m", "64Mi", "1.5G") as plain numbers."""

from __future__ import annotations

import re

_SUFFIXES: dict[str, float] = {
    "": 1,
    "n": 1e-9,
    "u": 1e-6,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}
_QUANTITY = re.compile(r"^\s*([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)\s*([a-zA-Z]*)\s*$")


class QuantityError(ValueError):
    """Not a Kubernetes quantity."""


def parse(value: object) -> float:
    """A quantity in base units (cores for cpu, bytes for memory)."""
    if isinstance(value, int | float):
        return float(value)
    match = _QUANTITY.match(str(value))
    if not match or match.group(2) not in _SUFFIXES:
        raise QuantityError(f"quantities must match the regular expression: {value!r}")
    return float(match.group(1)) * _SUFFIXES[match.group(2)]


def cpu_millis(value: object) -> float:
    return parse(value) * 1000


def memory_bytes(value: object) -> float:
    return parse(value)


def size_bytes(text: str) -> float:
    """Sizes as command-line tools write them: 100M, 1g, 512k (binary units, as stress means)."""
    match = re.match(r"^\s*([0-9.]+)\s*([bBkKmMgGtT]?)[iI]?[bB]?\s*$", text)
    if not match:
        raise QuantityError(f"not a size: {text!r}")
    unit = match.group(2).lower()
    scale = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}[unit]
    return float(match.group(1)) * scale


def format_memory(nbytes: float) -> str:
    """Memory as metrics-server reports it (Ki)."""
    return f"{max(int(nbytes // 1024), 0)}Ki"


def format_cpu(millis: float) -> str:
    """CPU as metrics-server reports it (nanocores)."""
    return f"{max(int(millis * 1_000_000), 0)}n"


def format_binary(nbytes: float) -> str:
    """Human form used in messages: 100Mi, 1Gi, 512Ki."""
    for suffix, scale in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if nbytes >= scale and nbytes % scale == 0:
            return f"{int(nbytes // scale)}{suffix}"
    if nbytes >= 2**20:
        return f"{int(nbytes // 2**20)}Mi"
    return f"{int(nbytes // 2**10)}Ki"


def duration_seconds(text: str) -> float:
    """Durations as annotations write them: 30s, 5m, 1h30m, 250ms, or a bare number of seconds."""
    text = str(text).strip()
    if re.fullmatch(r"[0-9.]+", text):
        return float(text)
    total = 0.0
    pos = 0
    for match in re.finditer(r"([0-9.]+)(ms|s|m|h)", text):
        if match.start() != pos:
            raise QuantityError(f"not a duration: {text!r}")
        number = float(match.group(1))
        total += number * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[match.group(2)]
        pos = match.end()
    if pos != len(text) or pos == 0:
        raise QuantityError(f"not a duration: {text!r}")
    return total
