"""Recorded-shape Kubernetes objects for the diagnostics tests (tests/fixtures/k8s/*.yaml)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "k8s"


@cache
def _read(name: str) -> dict[str, Any]:
    data = yaml.safe_load((FIXTURES / f"{name}.yaml").read_text())
    assert isinstance(data, dict)
    return data


def load(name: str) -> dict[str, Any]:
    """A fresh deep copy of a scenario (tests may mutate it)."""
    return copy.deepcopy(_read(name))


@pytest.fixture
def scenario() -> Callable[[str], dict[str, Any]]:
    return load
