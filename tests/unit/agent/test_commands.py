"""The agent's commands as a user runs them, where no cluster is needed."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.chat import NO_MODEL
from kubemedic.cli import app

runner = CliRunner()


def test_chat_without_an_llm_says_so_and_exits_cleanly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBEMEDIC_LLM", "none")
    result = runner.invoke(app, ["chat"])
    assert result.exit_code == 0
    assert " ".join(result.output.split()) == NO_MODEL


def test_a_bad_llm_setting_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBEMEDIC_LLM", "gpt-4o")
    result = runner.invoke(app, ["chat"])
    assert result.exit_code == 2
    assert "expected <provider>:<model> or none" in " ".join(result.output.split())


def test_approvals_on_an_empty_state_dir(tmp_path: Path) -> None:
    listed = runner.invoke(app, ["approvals", "list", "--state-dir", str(tmp_path)])
    assert listed.exit_code == 0 and "no pending approvals" in listed.output
    missing = runner.invoke(
        app, ["approvals", "approve", "nope", "--by", "alice", "--state-dir", str(tmp_path)]
    )
    assert missing.exit_code == 1 and "no approval nope" in missing.output
