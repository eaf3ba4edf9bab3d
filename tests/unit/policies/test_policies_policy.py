"""Policy files: the shipped ones load, bad ones fail naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies import (
    DEFAULT_POLICY_PATH,
    DEMO_POLICY_PATH,
    Action,
    Policy,
    PolicyError,
    Risk,
    load_policy,
    parse_memory_quantity,
)


def test_default_policy_is_conservative() -> None:
    policy = load_policy()
    assert policy == load_policy(DEFAULT_POLICY_PATH)
    assert policy.name == "default"
    assert policy.auto_approve == frozenset()
    assert policy.trusted_callers == frozenset()
    assert policy.restart_threshold == 3
    assert policy.memory.oom_min_bump == 100 * 2**20 and policy.memory.oom_bump_ratio == 1.2
    assert policy.memory.max == 4 * 2**30 and policy.memory.predict_horizon_minutes == 30
    assert policy.is_protected("kube-system") and policy.is_protected("kubemedic")
    assert not policy.is_protected("default")


def test_default_file_matches_model_defaults() -> None:
    assert load_policy() == Policy()


def test_demo_policy_auto_approves_low_risk_restarts() -> None:
    policy = load_policy(DEMO_POLICY_PATH)
    assert policy.auto_approve == {Action.DELETE_POD, Action.DELETE_EVICTED_POD}
    assert policy.auto_approve_max_risk is Risk.LOW
    assert Action.ROLLBACK_DEPLOYMENT not in policy.auto_approve


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("restart_threshold: -1\n", "restart_threshold"),
        ("rate_limits:\n  global_per_hour: lots\n", "rate_limits.global_per_hour"),
        ("rate_limits:\n  per_hour: 3\n", "rate_limits.per_hour"),
        ("memory:\n  max: 12 bananas\n", "memory.max"),
        ("memory:\n  oom_bump_ratio: 0.5\n", "memory.oom_bump_ratio"),
        ("memory:\n  factor: 1.5\n", "memory.factor"),
        ("auto_approve: [delete_cluster]\n", "auto_approve"),
        ("restart_treshold: 5\n", "restart_treshold"),
    ],
)
def test_bad_field_is_named(tmp_path: Path, text: str, field: str) -> None:
    with pytest.raises(PolicyError) as error:
        load_policy(write(tmp_path, text))
    assert field in str(error.value)
    assert str(tmp_path) in str(error.value)


def test_not_yaml(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy(write(tmp_path, "a: [\n"))


def test_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="mapping"):
        load_policy(write(tmp_path, "- 1\n- 2\n"))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "absent.yaml")


def test_empty_file_is_all_defaults(tmp_path: Path) -> None:
    assert load_policy(write(tmp_path, "")) == Policy()


def test_quantities() -> None:
    assert parse_memory_quantity("512Mi") == 512 * 2**20
    assert parse_memory_quantity("1G") == 10**9
    assert parse_memory_quantity("1.5Gi") == 3 * 2**29
    assert parse_memory_quantity(1024) == 1024
    for bad in ("-1Mi", "Mi", True, "1 Xi", None):
        with pytest.raises(ValueError):
            parse_memory_quantity(bad)


def test_updated_is_validated() -> None:
    policy = load_policy().updated(agent_namespace="ops", restart_threshold=5)
    assert policy.is_protected("ops") and policy.restart_threshold == 5
    with pytest.raises(PolicyError, match="restart_threshold"):
        load_policy().updated(restart_threshold=-2)
