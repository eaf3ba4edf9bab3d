"""A /metrics endpoint on loopback for processes that are not the MCP HTTP server (the demo)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, generate_latest, start_http_server


@dataclass
class MetricsEndpoint:
    server: WSGIServer
    thread: threading.Thread
    url: str

    @classmethod
    def start(cls, port: int = 0, host: str = "127.0.0.1") -> MetricsEndpoint:
        server, thread = start_http_server(port, addr=host)
        bound = server.server_address[1]
        return cls(server=server, thread=thread, url=f"http://{host}:{bound}/metrics")

    def write_snapshot(self, path: Path) -> None:
        """The exposition text as it is now, for looking at after the process ends."""
        path.write_bytes(generate_latest(REGISTRY))

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
