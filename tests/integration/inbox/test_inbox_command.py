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


def test_the_inbox_process_serves_slack_interactions(tmp_path: Path) -> None:
    """The real `kubemedic inbox` process, configured for Slack only, takes a signed click from
    an allowed user and grants the approval once; a forged one is refused."""
    import json
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    import httpx

    from kubemedic.slack.messages import APPROVE
    from mcp_server.approvals import ApprovalStore
    from tests.unit.slack.conftest import SIGNING_SECRET, click_body, signed_headers
    from tests.unit.slack.standin import slack_standin

    state = tmp_path / "state"
    pending = ApprovalStore(state / "state.sqlite").request(
        "restart_pod", "Pod/default/web-1", reason="crash loop", requested_by="agent"
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "KUBEMEDIC_SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "KUBEMEDIC_SLACK_APPROVERS": json.dumps({"U0ALICE01": "alice"}),
    }
    command = [sys.executable, "-m", "kubemedic", "inbox", "--port", str(port)]
    command += ["--state-dir", str(state)]
    log = tmp_path / "inbox.log"
    with log.open("w") as sink:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(command, env=env, stderr=sink)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:  # the process is up when /healthz answers
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the inbox did not start"
                time.sleep(0.1)
        with slack_standin() as standin:
            body = click_body("U0ALICE01", APPROVE, pending.id, standin.response_url())
            forged = signed_headers(body, secret="not-the-signing-secret")
            refused = httpx.post(f"{url}/slack/interactions", content=body, headers=forged)
            assert refused.status_code == 401
            assert ApprovalStore(state / "state.sqlite").get(pending.id).status == "pending"  # type: ignore[union-attr]
            answer = httpx.post(
                f"{url}/slack/interactions", content=body, headers=signed_headers(body)
            )
            assert answer.status_code == 200, answer.text
            store = ApprovalStore(state / "state.sqlite")
            deadline = time.monotonic() + 60
            while (decided := store.get(pending.id)) is not None and decided.status == "pending":
                assert time.monotonic() < deadline, "the click was not decided"
                time.sleep(0.1)  # the decision runs after Slack got its answer
        assert decided is not None and decided.status == "granted"
        assert decided.decided_by == "alice via Slack"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    assert "Slack interactions at" in log.read_text()
