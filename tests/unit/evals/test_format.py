"""The scenario format and the shipped scenario set."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from evals.format import (
    ACTIONS,
    Scenario,
    ScenarioError,
    default_scenarios_dir,
    dump_scenario,
    load_scenario,
    load_scenarios,
)
from policies import IssueType

SHIPPED = load_scenarios(default_scenarios_dir())


def _minimal(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "tiny",
        "target": {"namespace": "default", "pod": "p"},
        "cluster": {
            "objects": [
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": "p", "namespace": "default"},
                }
            ]
        },
        "expect": {"action": "none", "outcome": "healthy"},
    }
    data.update(overrides)
    return data


def test_at_least_forty_scenarios_with_unique_names() -> None:
    names = [s.name for s in SHIPPED]
    assert len(names) >= 40
    assert len(set(names)) == len(names)


def test_every_file_name_is_its_scenario_name() -> None:
    for path in sorted(default_scenarios_dir().glob("*.yaml")):
        assert load_scenario(path).name == path.stem


@pytest.mark.parametrize(
    "tag",
    [
        "crashloop", "transient", "deterministic", "rollout", "liveness", "config",
        "missing-configmap", "missing-secret", "oom", "limitrange-cap", "leak", "imagepull",
        "unauthorized", "bare-pod", "pending", "cluster-full", "cpu-larger-than-any-node",
        "unbound-pvc", "taints", "evicted", "healthy", "protected", "pdb", "ratelimit",
        "adversarial", "secrets",
    ],
)  # fmt: skip
def test_the_set_covers_every_category_the_issue_names(tag: str) -> None:
    assert any(tag in s.tags for s in SHIPPED), f"no scenario tagged {tag}"


def test_expected_issue_types_are_ones_the_diagnostics_emit() -> None:
    for s in SHIPPED:
        assert set(s.expect.issues) <= IssueType.ALL, s.name


def test_secrets_scenarios_really_carry_their_secrets_in_logs() -> None:
    for s in SHIPPED:
        for secret in s.expect.secrets:
            assert any(secret in line for log in s.logs for line in log.previous + log.current), (
                s.name
            )


def test_rate_limit_scenarios_are_seeded() -> None:
    for s in SHIPPED:
        if "ratelimit" in s.tags:
            assert s.rate_limits, s.name


def test_adversarial_scenarios_never_allow_a_write_outside_the_expected_one() -> None:
    for s in SHIPPED:
        if "adversarial" in s.tags:
            assert set(s.expect.writes) | set(s.expect.may_write) <= {"delete_pod"}, s.name


def test_dump_and_load_round_trip(tmp_path: Path) -> None:
    original = SHIPPED[0]
    path = tmp_path / f"{original.name}.yaml"
    path.write_text(dump_scenario(original))
    assert load_scenario(path) == original


def test_a_single_action_or_outcome_may_be_written_as_a_string() -> None:
    scenario = Scenario.model_validate(_minimal())
    assert scenario.expect.action == ["none"]
    assert scenario.expect.outcome == ["healthy"]
    assert scenario.expect.no_write


@pytest.mark.parametrize(
    ("expect", "message"),
    [
        ({"action": "reboot_node", "outcome": "healed"}, "unknown actions"),
        ({"action": "delete_pod", "outcome": "fixed"}, "outcome"),
        (
            {"action": "delete_pod", "writes": ["delete_pod"], "forbidden": ["delete_pod"],
             "outcome": "healed"},
            "both expected and forbidden",
        ),
        (
            {"action": "delete_pod", "writes": ["delete_pod"], "forbidden": ["any_write"],
             "outcome": "healed"},
            "both expected and forbidden",
        ),
        ({"action": "none", "writes": ["none"], "outcome": "healthy"}, "write actions"),
    ],
)  # fmt: skip
def test_inconsistent_expectations_are_refused(expect: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Scenario.model_validate(_minimal(expect=expect))


def test_the_target_pod_must_be_recorded() -> None:
    data = _minimal(target={"namespace": "default", "pod": "other"})
    with pytest.raises(ValueError, match="not in cluster.objects"):
        Scenario.model_validate(data)


def test_unknown_fields_are_refused_so_typos_do_not_pass_silently() -> None:
    data = _minimal()
    data["expect"]["forbiden"] = ["delete_pod"]
    with pytest.raises(ValueError, match="forbiden"):
        Scenario.model_validate(data)


def test_approvals_name_only_write_actions() -> None:
    with pytest.raises(ValueError, match="unknown write actions"):
        Scenario.model_validate(_minimal(approvals={"by_action": {"none": "approve"}}))
    scenario = Scenario.model_validate(
        _minimal(approvals={"default": "reject", "by_action": {"delete_pod": "approve"}})
    )
    assert scenario.approvals.answer_for("delete_pod") == "approve"
    assert scenario.approvals.answer_for("rollback_deployment") == "reject"


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("name: Not A Valid Name\n")
    with pytest.raises(ScenarioError, match="broken.yaml"):
        load_scenarios(tmp_path)


def test_only_keeps_named_scenarios_and_refuses_unknown_names(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(_minimal(name=name)))
    assert [s.name for s in load_scenarios(tmp_path, only=["b"])] == ["b"]
    with pytest.raises(ScenarioError, match="no scenarios named"):
        load_scenarios(tmp_path, only=["c"])


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    for file in ("one", "two"):
        (tmp_path / f"{file}.yaml").write_text(yaml.safe_dump(_minimal(name="same")))
    with pytest.raises(ScenarioError, match="duplicate"):
        load_scenarios(tmp_path)


def test_the_set_spreads_over_outcomes_and_actions() -> None:
    outcomes = Counter(o for s in SHIPPED for o in s.expect.outcome)
    assert outcomes["healed"] >= 10 and outcomes["handed_to_human"] >= 10
    assert outcomes["healthy"] >= 3
    decided = {a for s in SHIPPED for a in s.expect.action}
    assert decided <= ACTIONS
    assert {"delete_pod", "increase_memory_limit", "rollback_deployment",
            "check_image_availability", "investigate_manually", "delete_evicted_pod",
            "scale_down_deployment", "none"} <= decided  # fmt: skip


def test_kube_version_defaults_to_1_28_and_names_what_kubesim_serves() -> None:
    assert Scenario.model_validate(_minimal()).cluster.kube_version == "1.28"
    data = _minimal()
    data["cluster"]["kube_version"] = "1.33"
    assert Scenario.model_validate(data).cluster.kube_version == "1.33"
    for bad in ("1.30", 1.3, "v1.33", "latest"):
        data["cluster"]["kube_version"] = bad
        with pytest.raises(ValueError, match=r"kube_version .*serves Kubernetes 1\.28, 1\.33"):
            Scenario.model_validate(data)


def test_watch_replay_needs_a_pace_and_a_window() -> None:
    with pytest.raises(ValueError, match="open_by watch needs"):
        Scenario.model_validate(_minimal(replay={"open_by": "watch"}))
    ok = Scenario.model_validate(
        _minimal(replay={"open_by": "watch", "usage_sample_seconds": 15, "observe_seconds": 600})
    )
    assert ok.replay.open_by == "watch"


def test_expected_approvals_are_write_actions() -> None:
    expect = {"action": "none", "outcome": "healthy", "approvals": ["investigate_manually"]}
    with pytest.raises(ValueError, match="expect.approvals"):
        Scenario.model_validate(_minimal(expect=expect))
