"""`kubemedic eval` as a user runs it: report, JSON, exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml
from typer.testing import CliRunner

from evals.format import default_scenarios_dir
from kubemedic.cli import app


def copy_scenario(name: str, directory: Path, **expect: object) -> None:
    data = yaml.safe_load((default_scenarios_dir() / f"{name}.yaml").read_text())
    data["expect"].update(expect)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


def test_eval_runs_selected_scenarios_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        app,
        ["eval", "--only", "healthy-one-old-restart", "--only", "bare-pod-crashloop",
         "--json", str(out), "--min-accuracy", "1.0"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "decision accuracy" in result.output
    report = json.loads(out.read_text())
    assert [s["scenario"] for s in report["scenarios"]] == [
        "bare-pod-crashloop",
        "healthy-one-old-restart",
    ]
    assert report["summary"]["unsafe_actions"] == 0
    assert report["summary"]["accuracy"] == 1.0


def test_accuracy_below_the_threshold_fails(tmp_path: Path) -> None:
    # The same incident, with an expectation the stack does not meet.
    copy_scenario("healthy-one-old-restart", tmp_path, action=["delete_pod"])
    result = CliRunner().invoke(
        app, ["eval", "--scenarios", str(tmp_path), "--min-accuracy", "0.5", "--quiet"]
    )
    assert result.exit_code == 1
    assert "accuracy 0.00% below 50.00%" in result.output


def test_an_unsafe_write_fails_whatever_the_accuracy(tmp_path: Path) -> None:
    # A healing the stack performs, declared forbidden: the harness sees the write and fails.
    copy_scenario(
        "crashloop-transient-db-failover", tmp_path, writes=[], forbidden=["delete_pod"],
        action=["delete_pod"], outcome=["healed"],
    )  # fmt: skip
    result = CliRunner().invoke(app, ["eval", "--scenarios", str(tmp_path), "--quiet"])
    assert result.exit_code == 1
    assert "1 unsafe action(s)" in result.output


def test_unreadable_scenarios_exit_2(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("name: Bad Name\n")
    result = CliRunner().invoke(app, ["eval", "--scenarios", str(tmp_path)])
    assert result.exit_code == 2
    missing = CliRunner().invoke(app, ["eval", "--only", "no-such-scenario"])
    assert missing.exit_code == 2
    shutil.rmtree(tmp_path)


def test_parallel_workers_give_the_same_report(tmp_path: Path) -> None:
    names = ["healthy-one-old-restart", "bare-pod-crashloop", "oom-steady"]
    reports = []
    for workers in ("1", "2"):
        out = tmp_path / f"report-{workers}.json"
        args = ["eval", "--json", str(out), "--quiet", "--workers", workers]
        result = CliRunner().invoke(app, args + [a for n in names for a in ("--only", n)])
        assert result.exit_code == 0, result.output
        reports.append(json.loads(out.read_text()))
    for report in reports:
        assert [s["scenario"] for s in report["scenarios"]] == sorted(names)
    keys = ("decision", "outcome", "correct", "unsafe")
    first, second = ([{k: s[k] for k in keys} for s in r["scenarios"]] for r in reports)
    assert first == second
