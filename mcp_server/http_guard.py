"""Two guards for the streamable HTTP transport.

`JsonBodyGuard` reads a POSTed JSON body before the MCP SDK does and answers a body that is not
UTF-8 JSON with HTTP 400 and a JSON-RPC parse error (-32700, `id: null`), so a malformed
request is the client's error rather than a 500 with a traceback in the server log. A body
that parses is handed on byte for byte; GET (the SSE stream) and DELETE pass straight through.

`ClientDisconnectFilter` sits on the SDK's transport loggers: when a client goes away (closes
its SSE stream, ends its session, drops the connection) the SDK logs the resulting stream error
with `logger.exception`. Those records become one DEBUG line without a traceback; every other
error keeps its level and traceback.
"""

from __future__ import annotations

import json
import logging
from collections import deque

import anyio
from mcp.server.auth.middleware.bearer_auth import RequireAuthMiddleware
from mcp.types import PARSE_ERROR
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)

JSON_MEDIA_TYPE = "application/json"

# The SDK loggers that report stream failures of the HTTP transport.
TRANSPORT_LOGGERS = ("mcp.server.streamable_http", "mcp.server.streamable_http_manager")

# What a peer that went away looks like from inside the transport: its memory streams closed
# (ClosedResourceError) or their other end gone (BrokenResourceError), the request body cut
# short (ClientDisconnect), or the socket itself reset.
DISCONNECT_ERRORS: tuple[type[BaseException], ...] = (
    anyio.ClosedResourceError,
    anyio.BrokenResourceError,
    ClientDisconnect,
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
)


def parse_error_response(detail: str) -> JSONResponse:
    """HTTP 400 with a JSON-RPC parse error; no request id could be read, so `id` is null."""
    return JSONResponse(
        {"jsonrpc": "2.0", "id": None, "error": {"code": PARSE_ERROR, "message": detail}},
        status_code=400,
    )


def json_problem(body: bytes) -> str | None:
    """Why `body` is not a UTF-8 JSON text, or None when it is one."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"Parse error: the body is not valid UTF-8 ({exc.reason} at byte offset {exc.start})"
    # A leading byte order mark is tolerated, as the SDK's own parser does.
    text = text.removeprefix("\ufeff")
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return f"Parse error: {exc}"
    except RecursionError:
        return "Parse error: the body is nested too deeply"
    return None


def _is_json(scope: Scope) -> bool:
    content_type = Headers(scope=scope).get("content-type", "")
    return content_type.split(";", 1)[0].strip().lower() == JSON_MEDIA_TYPE


class JsonBodyGuard:
    """ASGI middleware: refuse a POSTed JSON body that does not parse, before the MCP transport.

    Only `POST` requests that declare a JSON content type are read; anything else (the GET SSE
    stream included) goes to `app` untouched. A body larger than `max_body_size` is not
    inspected here: it goes on as received, so the transport's own size limit answers it.
    """

    def __init__(self, app: ASGIApp, *, max_body_size: int) -> None:
        self.app = app
        self.max_body_size = max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not _is_json(scope):
            await self.app(scope, receive, send)
            return

        declared = Headers(scope=scope).get("content-length")
        if (
            declared is not None
            and declared.isascii()
            and declared.isdigit()
            and int(declared) > self.max_body_size
        ):
            await self.app(scope, receive, send)
            return

        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client is gone: there is no one to answer
            if message["type"] != "http.request":
                # Not part of the body: hand the request on with what was read so far.
                await self.app(scope, _replay(receive, _partial(body), message), send)
                return
            body.extend(message.get("body", b""))
            if len(body) > self.max_body_size:
                await self.app(scope, _replay(receive, _partial(body)), send)
                return
            if not message.get("more_body", False):
                break

        problem = json_problem(bytes(body))
        if problem is not None:
            logger.info("refused an MCP request body: %s", problem)
            await parse_error_response(problem)(scope, receive, send)
            return

        complete: Message = {"type": "http.request", "body": bytes(body), "more_body": False}
        await self.app(scope, _replay(receive, complete), send)


def _partial(body: bytearray) -> Message:
    return {"type": "http.request", "body": bytes(body), "more_body": True}


def _replay(receive: Receive, *messages: Message) -> Receive:
    """A `receive` that yields `messages` first, then reads from the real one."""
    pending = deque(messages)

    async def replay() -> Message:
        if pending:
            return pending.popleft()
        return await receive()

    return replay


def is_disconnect(exc: BaseException) -> bool:
    """Whether `exc` (or every exception of a group) only says that the peer went away."""
    if isinstance(exc, BaseExceptionGroup):
        return bool(exc.exceptions) and all(is_disconnect(inner) for inner in exc.exceptions)
    return isinstance(exc, DISCONNECT_ERRORS)


class ClientDisconnectFilter(logging.Filter):
    """Turn an error record about a client that went away into a DEBUG line without traceback.

    The record keeps its message with the exception's name appended; if its logger does not
    record DEBUG, the record is dropped. Any other record passes unchanged.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR or not record.exc_info:
            return True
        exc = record.exc_info[1]
        if exc is None or not is_disconnect(exc):
            return True
        if not logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
            return False
        record.msg = f"{record.getMessage()} (client went away: {type(exc).__name__})"
        record.args = None
        record.levelno = logging.DEBUG
        record.levelname = logging.getLevelName(logging.DEBUG)
        record.exc_info = None
        record.exc_text = None
        return True


def install_disconnect_filter(names: tuple[str, ...] = TRANSPORT_LOGGERS) -> None:
    """Put a `ClientDisconnectFilter` on each named logger, once."""
    for name in names:
        target = logging.getLogger(name)
        if not any(isinstance(f, ClientDisconnectFilter) for f in target.filters):
            target.addFilter(ClientDisconnectFilter())


def guard_route(app: Starlette, path: str, *, max_body_size: int) -> None:
    """Put a `JsonBodyGuard` behind the authentication check of the MCP route at `path`.

    FastMCP serves the route as `RequireAuthMiddleware(transport)`; the guard goes between the
    two so that a request without a valid token is answered 401/403 before its body is read.
    """
    for route in app.routes:
        if getattr(route, "path", None) != path:
            continue
        endpoint = getattr(route, "app", None)
        if not isinstance(endpoint, RequireAuthMiddleware):
            raise RuntimeError(f"the MCP route {path} is not behind the bearer-token check")
        if not isinstance(endpoint.app, JsonBodyGuard):
            endpoint.app = JsonBodyGuard(endpoint.app, max_body_size=max_body_size)
        return
    raise RuntimeError(f"no MCP route at {path}")
