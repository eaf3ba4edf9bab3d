"""The `approval_elicitation` policy setting: off by default, only write actions, named errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies import DEMO_POLICY_PATH, Action, PolicyError, load_policy, policy_from_dict


def test_off_by_default() -> None:
    assert load_policy().approval_elicitation == frozenset()
    assert load_policy(DEMO_POLICY_PATH).approval_elicitation == frozenset()
    assert load_policy().approval_elicitation_timeout_seconds == 300


def test_write_actions_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "approval_elicitation: [delete_pod, rollback_deployment]\n"
        "approval_elicitation_timeout_seconds: 120\n"
    )
    policy = load_policy(path)
    assert policy.approval_elicitation == {Action.DELETE_POD, Action.ROLLBACK_DEPLOYMENT}
    assert policy.approval_elicitation_timeout_seconds == 120
    assert policy.updated(name="copy").approval_elicitation == policy.approval_elicitation


@pytest.mark.parametrize(
    ("value", "named"),
    [
        (["restart_pod", "delete_pod"], "not a write action: restart_pod"),
        (["none"], "not a write action: none"),
        (["investigate_manually"], "not a write action: investigate_manually"),
        ("delete_pod", "expected a list of write actions"),
    ],
)
def test_anything_but_write_actions_is_a_named_error(value: object, named: str) -> None:
    with pytest.raises(PolicyError) as raised:
        policy_from_dict({"approval_elicitation": value}, "p.yaml")
    message = str(raised.value)
    assert message.startswith("policy p.yaml: approval_elicitation:"), message
    assert named in message
    assert "delete_pod" in message and "rollback_deployment" in message  # what is allowed


def test_the_timeout_is_positive() -> None:
    with pytest.raises(PolicyError, match="approval_elicitation_timeout_seconds"):
        policy_from_dict({"approval_elicitation_timeout_seconds": 0})
