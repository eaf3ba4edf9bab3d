"""The HTTP transport's error answers: malformed bodies and clients that go away.

A POSTed body that is not UTF-8 JSON is answered 400 with a JSON-RPC parse error (-32700,
`id: null`) and logs no traceback; the token check still comes first. A client that ends its
session or drops its connection is not logged as an error, while real errors still are.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import uvicorn
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.types import LATEST_PROTOCOL_VERSION, PARSE_ERROR
from pydantic import SecretStr
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kubesim import KubeSim
from mcp_server.config import TokenConfig
from mcp_server.http_app import create_http_app
from mcp_server.http_guard import (
    TRANSPORT_LOGGERS,
    ClientDisconnectFilter,
    install_disconnect_filter,
)
from tests.integration.mcp.conftest import make_state

READ_TOKEN = "read-token-0123456789abcdef"
HEAL_ONLY_TOKEN = "heal-only-token-0123456789"
SDK_LOGGER = "mcp.server.streamable_http"
DEADLINE = 30.0

ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
AUTHORIZED = {**ACCEPT, "Authorization": f"Bearer {READ_TOKEN}"}


def _initialize(client_name: str = "kübectl-ü") -> bytes:
    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": LATEST_PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": client_name, "version": "1.0"},
        },
    }
    return json.dumps(message, ensure_ascii=False).encode("utf-8")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SseWatch:
    """ASGI wrapper that tells when a GET /mcp stream was answered 200 and when it ended."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.opened = threading.Event()
        self.ended = threading.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] != "/mcp":
            await self.app(scope, receive, send)
            return

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                self.opened.set()
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            if self.opened.is_set():
                self.ended.set()


@dataclass
class Served:
    url: str
    watch: SseWatch
    server: uvicorn.Server
    thread: threading.Thread
    stopped: bool = field(default=False)

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        self.server.should_exit = True
        self.thread.join(DEADLINE)
        assert not self.thread.is_alive(), "the HTTP server did not stop"


@pytest.fixture
def served(sim: KubeSim, tmp_path: Path) -> Iterator[Served]:
    state = make_state(sim, tmp_path / "state", pod_cache=False)
    state.config.tokens = (
        TokenConfig(caller="dashboard", token=SecretStr(READ_TOKEN), scopes=frozenset({"read"})),
        TokenConfig(
            caller="heal-only", token=SecretStr(HEAL_ONLY_TOKEN), scopes=frozenset({"heal"})
        ),
    )
    port = _free_port()
    watch = SseWatch(create_http_app(state, port=port))
    # No logging config of uvicorn's own: its records reach caplog like everyone else's.
    config = uvicorn.Config(watch, host="127.0.0.1", port=port, log_config=None, log_level="info")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + DEADLINE
    while not server.started:
        assert thread.is_alive(), "the HTTP server failed to start"
        assert time.monotonic() < deadline, "the HTTP server did not start"
        time.sleep(0.02)
    handle = Served(f"http://127.0.0.1:{port}", watch, server, thread)
    try:
        yield handle
    finally:
        handle.stop()
        state.close()


def _server_problems(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Errors of the SDK or uvicorn, and any of their records at WARNING+ with a traceback."""
    return [
        r
        for r in caplog.records
        if r.name.split(".")[0] in ("mcp", "uvicorn")
        and (r.levelno >= logging.ERROR or (r.levelno >= logging.WARNING and r.exc_info))
    ]


def _assert_parse_error(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"jsonrpc", "id", "error"}
    assert body["jsonrpc"] == "2.0" and body["id"] is None
    assert body["error"]["code"] == PARSE_ERROR == -32700
    assert body["error"]["message"].startswith("Parse error: ")
    assert "mcp-session-id" not in response.headers


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"{not json", id="broken-object"),
        pytest.param(b'{"jsonrpc": "2.0", "id": 1, "method": "initialize"', id="truncated"),
        pytest.param(b"", id="empty"),
        pytest.param(b"[" * 100_000, id="nested-too-deep"),
        pytest.param(b'{"a": 1} trailing', id="trailing-garbage"),
    ],
)
def test_invalid_json_is_a_parse_error(
    served: Served, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    caplog.set_level(logging.INFO)
    _assert_parse_error(httpx.post(f"{served.url}/mcp", content=body, headers=AUTHORIZED))
    served.stop()
    assert not _server_problems(caplog)
    assert not [r for r in caplog.records if r.exc_info]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"jsonrpc": "2.0", "id": 1, "method": "\xff\xfe"}', id="invalid-byte"),
        pytest.param(b"\xff\xfe{\x00}\x00", id="utf-16"),
        pytest.param(b'{"a": "\xc3"}', id="truncated-sequence"),
        pytest.param(b'{"a": "\xed\xa0\x80"}', id="surrogate"),
        pytest.param(b'{"a": "\xc0\xaf"}', id="overlong"),
    ],
)
def test_invalid_utf8_is_a_parse_error(
    served: Served, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    caplog.set_level(logging.INFO)
    response = httpx.post(f"{served.url}/mcp", content=body, headers=AUTHORIZED)
    _assert_parse_error(response)
    assert "UTF-8" in response.json()["error"]["message"]
    served.stop()
    assert not _server_problems(caplog)
    assert not [r for r in caplog.records if r.exc_info]


def test_the_token_is_checked_before_the_body(served: Served) -> None:
    url = f"{served.url}/mcp"
    for body in (b"{not json", b'{"a": "\xff"}', _initialize()):
        assert httpx.post(url, content=body, headers=ACCEPT).status_code == 401
        wrong = {**ACCEPT, "Authorization": "Bearer not-a-token-at-all-xxxx"}
        assert httpx.post(url, content=body, headers=wrong).status_code == 401
        no_read = {**ACCEPT, "Authorization": f"Bearer {HEAL_ONLY_TOKEN}"}
        assert httpx.post(url, content=body, headers=no_read).status_code == 403


def _assert_initialized(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.headers.get("mcp-session-id")
    assert response.headers["content-type"].startswith("text/event-stream")
    (data,) = [line for line in response.text.splitlines() if line.startswith("data:")]
    answer = json.loads(data.removeprefix("data:"))
    assert answer["id"] == 1 and "error" not in answer
    assert answer["result"]["protocolVersion"] == LATEST_PROTOCOL_VERSION


def test_a_valid_initialize_still_works(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    body = _initialize()
    url = f"{served.url}/mcp"
    _assert_initialized(httpx.post(url, content=body, headers=AUTHORIZED))
    # With a byte order mark, as the SDK's own parser accepts.
    _assert_initialized(httpx.post(url, content=b"\xef\xbb\xbf" + body, headers=AUTHORIZED))

    # Chunked, and cut in the middle of a two-byte character.
    cut = body.index("ü".encode()) + 1

    def chunks() -> Iterator[bytes]:
        yield body[:cut]
        yield body[cut:]

    _assert_initialized(httpx.post(url, content=chunks(), headers=AUTHORIZED))
    served.stop()
    assert not _server_problems(caplog)


def test_other_bad_requests_keep_the_sdk_answers(served: Served) -> None:
    url = f"{served.url}/mcp"
    # Valid JSON that is not a JSON-RPC message: the SDK's own validation error.
    invalid = httpx.post(url, content=b'{"hello": 1}', headers=AUTHORIZED)
    assert invalid.status_code == 400
    assert invalid.json()["error"]["code"] != PARSE_ERROR
    # Not JSON at all by its content type: the body is not read for a parse error.
    plain = {**AUTHORIZED, "Content-Type": "text/plain"}
    assert httpx.post(url, content=b"{not json", headers=plain).status_code in (400, 415)
    # Over the size limit (sent chunked, so without a Content-Length): still 413.
    chunk = b" " * 65536

    def too_big() -> Iterator[bytes]:
        for _ in range(4 * 1024 * 1024 // len(chunk) + 2):
            yield chunk

    assert httpx.post(url, content=too_big(), headers=AUTHORIZED).status_code == 413


@pytest.mark.parametrize(
    "terminate", [pytest.param(True, id="ends-its-session"), pytest.param(False, id="drops-out")]
)
def test_a_client_that_goes_away_is_no_error(
    served: Served, caplog: pytest.LogCaptureFixture, terminate: bool
) -> None:
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="mcp")  # last: the capturing handler takes DEBUG

    async def main() -> None:
        with anyio.fail_after(60):
            headers = {"Authorization": f"Bearer {READ_TOKEN}"}
            async with (
                httpx.AsyncClient(headers=headers, timeout=DEADLINE) as http,
                streamable_http_client(
                    f"{served.url}/mcp", http_client=http, terminate_on_close=terminate
                ) as (read, write, _),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                await session.list_tools()
                opened = await anyio.to_thread.run_sync(served.watch.opened.wait, DEADLINE)
                assert opened, "the client did not open its SSE stream"

    anyio.run(main)
    assert served.watch.ended.wait(DEADLINE), "the server did not close the SSE stream"
    served.stop()

    assert not _server_problems(caplog), [r.getMessage() for r in _server_problems(caplog)]
    if terminate:
        # Ending the session closes the open SSE stream under the SDK's writer: it is
        # reported, at DEBUG and without a traceback.
        went_away = [
            r
            for r in caplog.records
            if r.name == SDK_LOGGER and "client went away" in r.getMessage()
        ]
        assert went_away and all(r.levelno == logging.DEBUG and not r.exc_info for r in went_away)


def _log_exception(exc: BaseException) -> None:
    try:
        raise exc
    except BaseException:
        logging.getLogger(SDK_LOGGER).exception("Error in standalone SSE writer")


def _sdk_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == SDK_LOGGER]


@pytest.mark.parametrize(
    "exc",
    [
        pytest.param(anyio.ClosedResourceError(), id="closed"),
        pytest.param(anyio.BrokenResourceError(), id="broken"),
        pytest.param(ClientDisconnect(), id="client-disconnect"),
        pytest.param(ConnectionResetError(104, "reset"), id="reset"),
        pytest.param(
            ExceptionGroup("", [anyio.BrokenResourceError(), ClientDisconnect()]), id="group"
        ),
    ],
)
def test_a_disconnect_record_becomes_debug(
    caplog: pytest.LogCaptureFixture, exc: BaseException
) -> None:
    install_disconnect_filter()
    caplog.set_level(logging.DEBUG, logger=SDK_LOGGER)
    _log_exception(exc)
    (record,) = _sdk_records(caplog)
    assert record.levelno == logging.DEBUG and record.levelname == "DEBUG"
    assert record.exc_info is None and record.exc_text is None
    assert record.getMessage() == (
        f"Error in standalone SSE writer (client went away: {type(exc).__name__})"
    )


def test_a_disconnect_record_is_dropped_without_debug(caplog: pytest.LogCaptureFixture) -> None:
    install_disconnect_filter()
    caplog.set_level(logging.INFO, logger=SDK_LOGGER)
    _log_exception(anyio.ClosedResourceError())
    assert not _sdk_records(caplog)


@pytest.mark.parametrize(
    "exc",
    [
        pytest.param(RuntimeError("a real bug"), id="bug"),
        pytest.param(ValueError("bad"), id="value-error"),
        pytest.param(
            ExceptionGroup("", [anyio.ClosedResourceError(), KeyError("x")]), id="mixed-group"
        ),
    ],
)
def test_a_real_error_stays_an_error(caplog: pytest.LogCaptureFixture, exc: BaseException) -> None:
    install_disconnect_filter()
    caplog.set_level(logging.DEBUG, logger=SDK_LOGGER)
    _log_exception(exc)
    (record,) = _sdk_records(caplog)
    assert record.levelno == logging.ERROR and record.exc_info is not None
    assert record.exc_info[1] is exc
    assert record.getMessage() == "Error in standalone SSE writer"


def test_the_filter_is_installed_once() -> None:
    install_disconnect_filter()
    install_disconnect_filter()
    for name in TRANSPORT_LOGGERS:
        filters: list[Any] = logging.getLogger(name).filters
        assert sum(isinstance(f, ClientDisconnectFilter) for f in filters) == 1
