"""A local HTTP server standing in for Slack: the Web API methods kubemedic calls
(`chat.postMessage`, `chat.update`) and interaction `response_url`s. It records every call."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import anyio
import anyio.to_thread


@dataclass
class Call:
    path: str
    body: dict[str, Any]
    authorization: str

    @property
    def method(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass
class SlackStandIn:
    url: str = ""
    calls: list[Call] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)
    _next_ts: int = 1

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def response_url(self, name: str = "r1") -> str:
        return f"{self.url}/actions/{name}"

    def of(self, method: str) -> list[Call]:
        with self.changed:
            return [c for c in self.calls if c.method == method]

    def responses(self) -> list[Call]:
        with self.changed:
            return [c for c in self.calls if c.path.startswith("/actions/")]

    def record(self, call: Call) -> dict[str, Any]:
        with self.changed:
            self.calls.append(call)
            answer: dict[str, Any] = {"ok": True}
            if call.method == "chat.postMessage":
                answer |= {
                    "channel": call.body.get("channel"),
                    "ts": f"1700000000.{self._next_ts:06d}",
                }
                self._next_ts += 1
            elif call.method == "chat.update":
                answer |= {"channel": call.body.get("channel"), "ts": call.body.get("ts")}
            self.changed.notify_all()
            return answer

    async def wait_for(self, condition: Callable[[], bool], seconds: float = 20.0) -> None:
        """Until `condition()` holds (checked after every recorded call)."""

        def wait() -> bool:
            with self.changed:
                return self.changed.wait_for(condition, timeout=seconds)

        with anyio.fail_after(seconds + 5):
            assert await anyio.to_thread.run_sync(wait), "the Slack stand-in never saw it"


@contextmanager
def slack_standin() -> Iterator[SlackStandIn]:
    standin = SlackStandIn()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            if self.headers.get("Content-Type", "").startswith("application/json"):
                body = json.loads(raw or "{}")
            else:
                body = {k: v[0] for k, v in parse_qs(raw).items()}
                if isinstance(body.get("blocks"), str):
                    body["blocks"] = json.loads(body["blocks"])
            answer = standin.record(Call(self.path, body, self.headers.get("Authorization", "")))
            data = json.dumps(answer).encode() if self.path.startswith("/api/") else b"ok"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    standin.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield standin
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
