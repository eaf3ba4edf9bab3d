"""Streamable HTTP: `/mcp` behind bearer tokens, plus `/healthz`, `/readyz` and `/metrics`.

The probes are open (the kubelet asks them without a token). `/metrics` names every namespace
and pod kubemedic has seen, so by default (`metrics_auth: required`) it asks for a bearer token
with the `metrics` scope (401 without a valid token, 403 with a token lacking the scope), as
Prometheus sends one from a `bearerTokenSecret`/`authorization` scrape setting;
`metrics_auth: open` serves it to anyone who reaches the port. Every MCP request needs a token
with the `read` scope, and writing tools also check `heal`.
Behind the token check, a POST body that is not UTF-8 JSON is answered 400 with a JSON-RPC
parse error, and a client that goes away is logged at DEBUG, not as an error (see
`mcp_server.http_guard`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from mcp.server.auth.middleware.bearer_auth import RequireAuthMiddleware
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import request_response

from mcp_server.auth import StaticTokenVerifier
from mcp_server.fleet import Fleet
from mcp_server.http_guard import guard_route, install_disconnect_filter
from mcp_server.server import create_server
from mcp_server.state import ServerState

Handler = Callable[[Request], Awaitable[Response]]


class NoTokensConfigured(ValueError):
    """HTTP without any token would be an open door to the cluster: refuse to serve it."""


def create_http_app(
    served: ServerState | Fleet, *, host: str = "127.0.0.1", port: int = 8000
) -> Starlette:
    """One cluster's state or a fleet; /readyz is ready when every cluster's cache is."""
    fleet = served if isinstance(served, Fleet) else Fleet.single(served)
    state = fleet.default  # its config and store are every cluster's
    tokens = state.config.tokens
    if not tokens:
        raise NoTokensConfigured(
            "the HTTP transport needs at least one bearer token in the server configuration"
        )
    mcp = create_server(fleet, token_verifier=StaticTokenVerifier(tokens), host=host, port=port)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        ready, why = fleet.ready()
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "detail": why},
            status_code=200 if ready else 503,
        )

    async def prometheus_metrics(request: Request) -> Response:
        state.publish_approval_metrics()  # approvals are granted out of band: look now
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    metrics_endpoint: Any = prometheus_metrics
    if state.config.metrics_auth == "required":
        # The SDK's bearer middleware (the same check as /mcp's): 401 / 403 with
        # WWW-Authenticate, for a token without the `metrics` scope.
        metrics_endpoint = RequireAuthMiddleware(
            request_response(prometheus_metrics), ["metrics"], None
        )
    for path, handler in (
        ("/healthz", healthz),
        ("/readyz", readyz),
        ("/metrics", metrics_endpoint),
    ):
        route: Callable[[Handler], Any] = mcp.custom_route(path, methods=["GET"])
        route(handler)

    app = mcp.streamable_http_app()
    guard_route(
        app, mcp.settings.streamable_http_path, max_body_size=mcp.settings.max_request_body_size
    )
    install_disconnect_filter()
    inner = app.router.lifespan_context

    # The session manager runs for the app's lifetime; the shared state (the pod cache) too,
    # so /readyz reflects the cache even before the first MCP session.
    @asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[None]:
        async with fleet.session(), inner(application):
            yield

    app.router.lifespan_context = lifespan
    return app
