"""`kubemedic watch --leader-elect`: wire the Lease elector (`mcp_server.leader`) to the watch
loop's gate (`agent.leadership.Leadership`), and serve `/healthz` and `/readyz` beside
`/metrics` on the metrics port.

The elector's Lease calls go through a gateway: the in-process MCP server's (the default), or,
with `--mcp-url`, one built from this process's own kubeconfig / in-cluster credentials and used
for the Lease alone (in a pod: a ServiceAccount allowed nothing but the Lease).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIServer, make_server

from prometheus_client import make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer, _SilentHandler

from agent.leadership import Leadership
from mcp_server.leader import ElectionConfig, LeaderElector, LeaseClient, default_identity

Ready = Callable[[], tuple[bool, str]]


@dataclass(frozen=True, slots=True)
class ElectionOptions:
    name: str = "kubemedic-leader"
    namespace: str | None = None  # None: the agent's namespace (KUBEMEDIC_NAMESPACE)
    identity: str | None = None  # None: the pod name, else hostname_pid
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def config(self, default_namespace: str) -> ElectionConfig:
        return ElectionConfig(
            namespace=self.namespace or default_namespace,
            identity=self.identity or default_identity(),
            name=self.name,
            lease_duration=self.lease_duration,
            renew_deadline=self.renew_deadline,
            retry_period=self.retry_period,
        )


@contextlib.asynccontextmanager
async def leader_election(
    client: LeaseClient,
    config: ElectionConfig,
    *,
    say: Callable[[str], None] | None = None,
) -> AsyncIterator[tuple[Leadership, LeaderElector]]:
    """Run the elector while the block runs; the gate follows it. On exit the Lease is
    released (if held), so another replica takes over at its next attempt."""
    gate = Leadership()

    def started() -> None:
        if say is not None:
            say(f"leader election: {config.identity} leads ({config.namespace}/{config.name})")
        gate.set(True, "acquired the Lease")

    def stopped(why: str) -> None:
        gate.set(False, why)
        if say is not None:
            say(
                f"leader election: {config.identity} is no longer the leader ({why}); "
                "stopped opening and acting on incidents"
            )

    def new_leader(holder: str) -> None:
        if say is not None and holder != config.identity:
            say(f"leader election: {holder} leads; {config.identity} follows")

    elector = LeaderElector(
        client,
        config,
        on_started_leading=started,
        on_stopped_leading=stopped,
        on_new_leader=new_leader,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(elector.run(stop), name="leader-election")
    try:
        yield gate, elector
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# -- /metrics, /healthz, /readyz ------------------------------------------------------------


def _health_app(ready: Ready | None) -> Any:
    metrics = make_wsgi_app()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if path == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"ok\n"]
        if path == "/readyz":
            ok, why = ready() if ready is not None else (True, "ok")
            status = "200 OK" if ok else "503 Service Unavailable"
            start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
            return [f"{why}\n".encode()]
        result: Iterable[bytes] = metrics(environ, start_response)
        return result

    return app


@dataclass
class HealthEndpoint:
    """`/metrics` (every other path too, as prometheus-client serves it), `/healthz` (the
    process answers) and `/readyz` (ready to serve: the pod cache has synced). Leadership is
    not readiness: a follower is ready; `kubemedic_leader` says who leads."""

    server: WSGIServer
    thread: threading.Thread
    url: str

    @classmethod
    def start(cls, port: int = 0, host: str = "127.0.0.1", ready: Ready | None = None) -> Any:
        server = make_server(
            host, port, _health_app(ready), ThreadingWSGIServer, handler_class=_SilentHandler
        )
        thread = threading.Thread(target=server.serve_forever, daemon=True, name="metrics-http")
        thread.start()
        bound = server.server_address[1]
        return cls(server=server, thread=thread, url=f"http://{host}:{bound}/metrics")

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@contextlib.asynccontextmanager
async def watch_leadership(
    settings: Any,
    options: ElectionOptions | None,
    state: Any | None,
    *,
    say: Callable[[str], None] | None = None,
) -> AsyncIterator[Leadership | None]:
    """For `kubemedic watch`: None without `--leader-elect`; else the gate of an elector that
    uses the in-process server's gateway (`state`), or a Lease-only gateway of its own."""
    if options is None:
        yield None
        return
    from mcp_server.gateway import Gateway

    config = options.config(settings.namespace)
    own = None
    if state is not None:
        client: LeaseClient = state.gateway
    else:
        own = Gateway.from_kubeconfig(settings.kubeconfig, getattr(settings, "context", None))
        client = own
    try:
        async with leader_election(client, config, say=say) as (gate, _elector):
            yield gate
    finally:
        if own is not None:
            own.close()
