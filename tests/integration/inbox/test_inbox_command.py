"""`kubemedic inbox` refuses to start when nobody could sign in, or on a bad token file."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from kubemedic.cli import app
from kubemedic.tokens import load_tokens

runner = CliRunner()


def test_without_tokens_or_a_proxy_header_nobody_could_sign_in(tmp_path: Path) -> None:
    result = runner.invoke(app, ["inbox", "--state-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "nobody could sign in" in " ".join(result.output.split())


def test_a_bad_token_file_is_refused_without_showing_tokens(tmp_path: Path) -> None:
    short = tmp_path / "tokens.yaml"
    short.write_text("- {caller: alice, token: tooshortsecret, scopes: [approve]}\n")
    result = runner.invoke(app, ["inbox", "--tokens", str(short), "--state-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "at least 16 characters" in result.output
    assert "tooshortsecret" not in result.output
    scope = tmp_path / "scope.yaml"
    scope.write_text("- {caller: alice, token: " + "s" * 20 + ", scopes: [admin]}\n")
    result = runner.invoke(app, ["inbox", "--tokens", str(scope), "--state-dir", str(tmp_path)])
    assert result.exit_code == 2 and "scopes" in result.output
    assert "s" * 20 not in result.output


def test_the_token_file_is_the_mcp_one(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text(
        "- caller: alice\n  token: " + "a" * 24 + "\n  scopes: [read, approve]\n"
        "- caller: bot\n  token: " + "b" * 24 + "\n"
    )
    alice, bot = load_tokens(path)
    assert alice.caller == "alice" and alice.scopes == {"read", "approve"}
    assert bot.scopes == {"read"}
