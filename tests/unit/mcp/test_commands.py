"""`kubemedic audit verify` and `kubemedic mcp --http` without tokens, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from kubemedic.commands import audit, mcp
from mcp_server.audit import AuditLog, AuditTarget


def _app(module: object) -> typer.Typer:
    app = typer.Typer()
    module.register(app)  # type: ignore[attr-defined]

    @app.callback()
    def _root() -> None:
        """root"""

    return app


def _trail(path: Path, n: int) -> None:
    log = AuditLog(path)
    for i in range(n):
        log.append(
            action="delete_pod",
            target=AuditTarget("Pod", "default", f"p{i}"),
            reason="r",
            initiator="t",
            result="success",
            dry_run=False,
            duration_seconds=0.1,
        )


def test_audit_verify_ok_and_broken(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _trail(path, 3)
    runner = CliRunner()
    ok = runner.invoke(_app(audit), ["audit", "verify", str(path)])
    assert ok.exit_code == 0 and "3 records" in ok.output
    lines = path.read_text().splitlines()
    record = json.loads(lines[1])
    record["initiator"] = "someone-else"
    lines[1] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")
    broken = runner.invoke(_app(audit), ["audit", "verify", str(path)])
    assert broken.exit_code == 1
    assert "line 2" in broken.output


def test_http_without_tokens_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        _app(mcp), ["mcp", "--http", "--state-dir", str(tmp_path), "--no-cache"]
    )
    assert result.exit_code == 2
    assert "tokens" in result.output


def test_mcp_without_credentials_says_so(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-kubeconfig"
    result = CliRunner().invoke(
        _app(mcp), ["mcp", "--kubeconfig", str(missing), "--state-dir", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "no usable cluster credentials" in result.output
