"""Runbooks name real commands: every `kubemedic <command> ...` line in docs/runbooks parses
with the CLI as it is (sub-commands and options), so a renamed flag cannot rot a runbook."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer

from kubemedic.cli import app

ROOT = Path(__file__).resolve().parents[3]
RUNBOOKS = sorted((ROOT / "docs" / "runbooks").glob("*.md"))
_COMMAND = re.compile(
    r"(?<![\w/.-])kubemedic ((?:approvals|audit|watch|mcp|demo|sim|eval|record|chat)\b[^`\n]*)"
)


def _invocations() -> list[tuple[str, str]]:
    found = []
    for path in RUNBOOKS:
        text = path.read_text(encoding="utf-8").replace("\\\n", " ")
        for match in _COMMAND.finditer(text):
            found.append((path.name, match.group(1).strip()))
    return found


def _resolve(words: list[str]) -> tuple[Any, list[str]]:
    command: Any = typer.main.get_command(app)
    while words and hasattr(command, "commands") and words[0] in command.commands:
        command = command.commands[words.pop(0)]
    return command, words


def test_runbooks_name_commands() -> None:
    assert len(_invocations()) >= 3


@pytest.mark.parametrize(("runbook", "line"), _invocations())
def test_runbook_command_parses(runbook: str, line: str) -> None:
    words = shlex.split(re.sub(r"<[^>]+>", "X", line))
    command, rest = _resolve(words)
    assert not hasattr(command, "commands"), f"{runbook}: `kubemedic {line}` names no command"
    options = {opt for param in command.params for opt in param.opts}
    unknown = [w for w in rest if w.startswith("--") and w.split("=")[0] not in options]
    assert unknown == [], f"{runbook}: `kubemedic {line}`"
    command.make_context("kubemedic", rest)
