"""Notifications reach a real local webhook; a dead webhook does not stop an incident."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from agent.notify import slack_payload, webhook_notifier
from tests.unit.agent.harness import runner_for
from tests.unit.agent.scripted import ScriptedCluster, crashloop_diagnosis

POD = "web-5d8f7-abcde"


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.mark.anyio
async def test_approval_and_outcome_are_posted(
    tmp_path: Path, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = webhook
    cluster = ScriptedCluster(diagnoses={POD: crashloop_diagnosis(POD)})
    async with runner_for(cluster, tmp_path / "cp.sqlite", notify=webhook_notifier(url)) as runner:
        await runner.start("inc-w", "default", POD)
        cluster.grant("appr-1")
        await runner.resume("inc-w", {"decision": "approve", "approver": "jo"})
    assert [r["kubemedic"]["kind"] for r in received] == ["approval", "incident"]
    assert "kubemedic approvals approve appr-1" in received[0]["text"]
    assert received[1]["kubemedic"]["outcome"] == "healed"
    assert received[1]["kubemedic"]["approver"] == "jo"


@pytest.mark.anyio
async def test_a_dead_webhook_does_not_stop_the_incident(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    cluster = ScriptedCluster(
        diagnoses={POD: crashloop_diagnosis(POD)}, auto_approve={"delete_pod"}
    )
    async with runner_for(cluster, tmp_path / "cp.sqlite", notify=webhook_notifier(dead)) as runner:
        done = await runner.start("inc-dead", "default", POD)
    assert done.outcome == "healed"


def test_payload_is_slack_shaped() -> None:
    payload = slack_payload(
        {
            "kind": "incident",
            "incident_id": "i",
            "outcome": "rejected",
            "workload": "default/Deployment/web",
            "summary": "no",
        }
    )
    assert payload["text"].startswith(":no_entry_sign:")
    assert payload["blocks"][0]["type"] == "section"
