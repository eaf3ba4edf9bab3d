"""The inbox served by a real uvicorn on a loopback port, in a thread of the test process."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette

from mcp_server.config import TokenConfig

APPROVER = "a" * 24
VIEWER = "v" * 24
HEALER = "h" * 24
TOKENS = (
    TokenConfig(caller="alice", token=APPROVER, scopes=frozenset({"read", "approve"})),  # type: ignore[arg-type]
    TokenConfig(caller="victor", token=VIEWER, scopes=frozenset({"read"})),  # type: ignore[arg-type]
    TokenConfig(caller="hank", token=HEALER, scopes=frozenset({"read", "heal"})),  # type: ignore[arg-type]
)
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives a real headless Chromium")


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, html[:2000]
    return found.group(1)


@contextmanager
def serving(app: Starlette, deadline: float = 30.0) -> Iterator[str]:
    """`app` on 127.0.0.1 (a free port); yields its base URL; stops it afterwards."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="inbox-uvicorn", daemon=True)
    thread.start()
    give_up = time.monotonic() + deadline
    while not server.started:
        assert thread.is_alive(), "the inbox server did not start"
        assert time.monotonic() < give_up, "the inbox server did not start in time"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(60)


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    path = tmp_path / "state"
    path.mkdir()
    return path
