from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import uvicorn
from pydantic import SecretStr
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette

from kubemedic.settings import Settings
from kubemedic.slack import SlackSettings, slack_routes
from mcp_server.approvals import ApprovalStore
from tests.unit.slack.standin import SlackStandIn, slack_standin

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
CHANNEL = "C0KUBEMEDIC"
ALICE, BOB, MALLORY = "U0ALICE01", "U0BOB0002", "U0MALLORY"
DEADLINE = 20.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def standin() -> Iterator[SlackStandIn]:
    with slack_standin() as running:
        yield running


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path / "state")


@pytest.fixture
def slack_settings(standin: SlackStandIn) -> SlackSettings:
    return SlackSettings(
        bot_token=SecretStr("xoxb-test-token"),
        signing_secret=SecretStr(SIGNING_SECRET),
        channel=CHANNEL,
        approvers={ALICE: "alice", BOB: "bob"},
        api_url=standin.api_url,
    )


@pytest.fixture
def approvals(settings: Settings) -> ApprovalStore:
    return ApprovalStore(settings.approvals_db)


def click_body(user: str, action_id: str, approval_id: str, response_url: str) -> bytes:
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower()},
        "team": {"id": "T0TEAM"},
        "channel": {"id": CHANNEL},
        "response_url": response_url,
        "actions": [
            {"action_id": action_id, "block_id": "kubemedic_approval", "value": approval_id}
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def signed_headers(
    body: bytes, *, at: float | None = None, secret: str = SIGNING_SECRET
) -> dict[str, str]:
    timestamp = str(int(time.time() if at is None else at))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    assert signature is not None
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded",
    }


@dataclass
class Served:
    url: str
    server: uvicorn.Server
    thread: threading.Thread


@contextmanager
def serving(app: Any) -> Iterator[Served]:
    """`app` over real HTTP (uvicorn in a thread) until the block ends."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, lifespan="off", ws="none"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    started = threading.Event()
    deadline = time.monotonic() + DEADLINE
    while not server.started:  # uvicorn has no event to wait on; it sets a flag
        assert thread.is_alive(), "the HTTP server failed to start"
        assert time.monotonic() < deadline, "the HTTP server did not start"
        started.wait(0.02)
    try:
        yield Served(f"http://127.0.0.1:{port}", server, thread)
    finally:
        server.should_exit = True
        thread.join(DEADLINE)


@pytest.fixture
def endpoint(settings: Settings, slack_settings: SlackSettings) -> Iterator[Served]:
    """The interactions route in a tiny standalone app, served over real HTTP."""
    with serving(Starlette(routes=slack_routes(settings, slack_settings))) as served:
        yield served
