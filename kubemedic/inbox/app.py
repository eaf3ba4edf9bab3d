"""The inbox: a small Starlette app where on-call people approve or reject destructive actions.

Routes: `/` (the page), `/login` and `/logout`, `/api/approvals` (the JSON + HTML fragment the
page polls), `POST /approvals/{id}/approve|edit|reject`, `/static/inbox.js|css`, `/healthz`.
More routes (a Slack interactions endpoint) come in through `build_app(..., extra_routes=...)`
and reach the same machinery through `request.app.state.inbox` (an `Inbox`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kubemedic.approval_flow import DecisionKind, DecisionRefused, milder_options
from kubemedic.inbox import render
from kubemedic.inbox.auth import (
    HEADER_SCOPES,
    Identity,
    Session,
    SessionStore,
    TokenBook,
    bearer,
    csrf_ok,
    header_user,
)
from kubemedic.inbox.board import BoardSource
from kubemedic.inbox.decisions import Decisions
from kubemedic.inbox.static import INBOX_CSS, INBOX_JS
from kubemedic.settings import Settings
from mcp_server.config import TokenConfig

log = logging.getLogger("kubemedic.inbox")

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
APPROVAL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_BODY = 64 * 1024
MAX_REASON = 500
DECISIONS: dict[str, DecisionKind] = {"approve": "approve", "edit": "edit", "reject": "reject"}


@dataclass(frozen=True, slots=True)
class InboxConfig:
    tokens: tuple[TokenConfig, ...] = ()
    # A header set by an authenticating reverse proxy (e.g. X-Forwarded-User behind
    # oauth2-proxy); None: such headers are ignored.
    trusted_user_header: str | None = None
    poll_seconds: float = 3.0
    session_lifetime_seconds: float = 12 * 3600
    session_idle_seconds: float = 3600


class SecurityHeaders:
    """Adds the security headers to every response, the extra routes' and errors' included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in {name for name, _ in SECURITY_HEADERS}
                    and k.lower() != b"cache-control"
                ]
                headers.extend(SECURITY_HEADERS)
                headers.append((b"cache-control", b"no-cache" if static else b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


@dataclass(slots=True)
class Who:
    identity: Identity | None
    session: Session | None
    fresh: bool = False  # the session was made by this request: set its cookie
    bad_token: bool = False


class Inbox:
    """The app's machinery, shared with extra routes through `request.app.state.inbox`."""

    def __init__(self, settings: Settings, config: InboxConfig) -> None:
        from kubemedic.agent_runtime import approval_store

        self.settings = settings
        self.config = config
        self.tokens = TokenBook(config.tokens)
        self.sessions = SessionStore(
            lifetime_seconds=config.session_lifetime_seconds,
            idle_seconds=config.session_idle_seconds,
        )
        self.store = approval_store(settings)
        self.decisions = Decisions(settings)
        self.source = BoardSource(settings, self.store, self.decisions)

    # -- who is asking ---------------------------------------------------------------------

    @staticmethod
    def cookie_name(request: Request) -> str:
        return "__Host-kubemedic-inbox" if request.url.scheme == "https" else "kubemedic-inbox"

    def identify(self, request: Request, *, create: bool) -> Who:
        authorization = request.headers.get("authorization")
        if authorization is not None:
            token = bearer(authorization)
            identity = self.tokens.identify(token) if token else None
            return Who(identity, None, bad_token=identity is None)
        session = self.sessions.get(request.cookies.get(self.cookie_name(request)))
        header = self.config.trusted_user_header
        user = header_user(request.headers.get(header)) if header else None
        if user is not None:
            identity = Identity(user, HEADER_SCOPES, "header")
            if session is not None and session.identity == identity:
                return Who(identity, session)
            if create:  # a session of its own, for the forms' CSRF token
                return Who(identity, self.sessions.new(identity), fresh=True)
            return Who(identity, None)
        if session is not None and session.identity is not None:
            return Who(session.identity, session)
        if session is None and create:
            return Who(None, self.sessions.new(), fresh=True)
        return Who(None, session)

    def set_cookie(self, request: Request, response: Response, session: Session) -> None:
        response.set_cookie(
            self.cookie_name(request),
            session.id,
            max_age=int(self.config.session_lifetime_seconds),
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )

    # -- deciding --------------------------------------------------------------------------

    async def check(
        self, approval_id: str, kind: DecisionKind, *, edited: str | None, reason: str
    ) -> None:
        """Refuse (DecisionRefused) before anything changes: unknown, no longer pending, a
        decision already under way, no reason for a rejection, an edit that is not allowed."""
        if not APPROVAL_ID.match(approval_id):
            raise DecisionRefused(f"no approval {approval_id[:64]}", 404)
        approval = self.store.get(approval_id)
        if approval is None:
            raise DecisionRefused(f"no approval {approval_id}", 404)
        if approval.status != "pending":
            raise DecisionRefused(f"approval {approval_id} is already {approval.status}", 409)
        if self.decisions.running(approval_id):
            raise DecisionRefused(f"a decision on {approval_id} is already under way", 409)
        if kind == "reject" and not reason:
            raise DecisionRefused("a rejection needs a reason", 400)
        if kind == "edit":
            pending = frozenset(a.id for a in self.store.list("pending"))
            waiting = await self.source.waiting(pending, fresh=True)
            allowed = [o.get("action") for o in milder_options(waiting.get(approval_id))]
            if not edited or edited not in allowed:
                raise DecisionRefused(
                    f"{edited!r} is not a milder action allowed here "
                    f"(allowed: {', '.join(str(a) for a in allowed) or 'none'})",
                    400,
                )

    async def start(
        self,
        approval_id: str,
        by: str,
        kind: DecisionKind,
        *,
        edited: str | None = None,
        reason: str = "",
    ) -> Any:
        """Check, then decide in the background; the Job to poll. Raises DecisionRefused."""
        await self.check(approval_id, kind, edited=edited, reason=reason)
        log.info(
            "inbox decision",
            extra={"approval_id": approval_id, "decision": kind, "by": by, "edited": edited},
        )
        return self.decisions.start(approval_id, by, kind, edited=edited, reason=reason)


# -- handlers --------------------------------------------------------------------------------


def _inbox(request: Request) -> Inbox:
    inbox: Inbox = request.app.state.inbox
    return inbox


def _wants_json(request: Request) -> bool:
    return "authorization" in request.headers or "application/json" in request.headers.get(
        "accept", ""
    )


def _refuse(request: Request, status: int, message: str) -> Response:
    if _wants_json(request):
        return JSONResponse({"error": message}, status_code=status)
    return HTMLResponse(render.message_page("kubemedic inbox", message), status_code=status)


def _unauthenticated(request: Request, who: Who) -> Response:
    if who.bad_token:
        response = _refuse(request, 401, "the token is not valid")
    else:
        response = _refuse(request, 401, "sign in first")
    response.headers["WWW-Authenticate"] = 'Bearer realm="kubemedic-inbox"'
    return response


async def _fields(request: Request) -> dict[str, str]:
    length = request.headers.get("content-length")
    if length is not None and (not length.isascii() or not length.isdigit()):
        return {}
    if length is not None and int(length) > MAX_BODY:
        raise DecisionRefused("the request is too large", 413)
    kind = request.headers.get("content-type", "")
    if kind.startswith("application/json"):
        body = await request.body()
        if len(body) > MAX_BODY:
            raise DecisionRefused("the request is too large", 413)
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            raise DecisionRefused("the body is not JSON", 400) from None
        if not isinstance(data, dict):
            raise DecisionRefused("the body is not a JSON object", 400)
        return {str(k): str(v) for k, v in data.items() if isinstance(v, str | int | float)}
    if kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        async with request.form(max_files=0, max_fields=20, max_part_size=MAX_BODY) as form:
            return {k: v for k, v in form.items() if isinstance(v, str)}
    return {}


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def static_js(request: Request) -> Response:
    return Response(INBOX_JS, media_type="text/javascript; charset=utf-8")


async def static_css(request: Request) -> Response:
    return Response(INBOX_CSS, media_type="text/css; charset=utf-8")


async def page(request: Request) -> Response:
    inbox = _inbox(request)
    who = inbox.identify(request, create=True)
    if who.bad_token:
        return _unauthenticated(request, who)
    if who.identity is None:
        response: Response = RedirectResponse("/login", status_code=303)
    elif not who.identity.can_view:
        response = _refuse(request, 403, f"{who.identity.name} may not view approvals")
    else:
        board = await inbox.source.board()
        csrf = who.session.csrf if who.session else ""
        poll_ms = int(inbox.config.poll_seconds * 1000)
        response = HTMLResponse(render.inbox_page(board, who.identity, csrf, poll_ms=poll_ms))
    if who.fresh and who.session is not None:
        inbox.set_cookie(request, response, who.session)
    return response


async def login_form(request: Request) -> Response:
    inbox = _inbox(request)
    who = inbox.identify(request, create=True)
    if who.identity is not None and not who.bad_token:
        return RedirectResponse("/", status_code=303)
    session = who.session or inbox.sessions.new()
    response = HTMLResponse(
        render.login_page(session.csrf, header=inbox.config.trusted_user_header)
    )
    if who.fresh or who.session is None:
        inbox.set_cookie(request, response, session)
    return response


async def login(request: Request) -> Response:
    inbox = _inbox(request)
    session = inbox.sessions.get(request.cookies.get(inbox.cookie_name(request)))
    try:
        fields = await _fields(request)
    except DecisionRefused as refused:
        return _refuse(request, refused.exit_code, refused.message)
    if not csrf_ok(session, fields.get("csrf")):
        return _refuse(request, 403, "the form has expired: reload the sign-in page")
    assert session is not None
    identity = inbox.tokens.identify(fields.get("token", ""), "session")
    if identity is None:
        return HTMLResponse(
            render.login_page(session.csrf, error="That token is not valid."), status_code=401
        )
    if not identity.can_view:
        return HTMLResponse(
            render.login_page(
                session.csrf, error="That token may neither view nor decide approvals."
            ),
            status_code=403,
        )
    # A new session id on sign-in: a session id planted before it is worth nothing after.
    inbox.sessions.drop(session.id)
    signed_in = inbox.sessions.new(identity)
    response = RedirectResponse("/", status_code=303)
    inbox.set_cookie(request, response, signed_in)
    return response


async def logout(request: Request) -> Response:
    inbox = _inbox(request)
    session = inbox.sessions.get(request.cookies.get(inbox.cookie_name(request)))
    try:
        fields = await _fields(request)
    except DecisionRefused as refused:
        return _refuse(request, refused.exit_code, refused.message)
    if not csrf_ok(session, fields.get("csrf")):
        return _refuse(request, 403, "the form has expired: reload the page")
    inbox.sessions.drop(session.id if session else None)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(inbox.cookie_name(request), path="/")
    return response


async def approvals_json(request: Request) -> Response:
    inbox = _inbox(request)
    who = inbox.identify(request, create=False)
    if who.identity is None:
        return _unauthenticated(request, who)
    if not who.identity.can_view:
        return JSONResponse({"error": "this identity may not view approvals"}, status_code=403)
    board = await inbox.source.board()
    csrf = who.session.csrf if who.session else ""
    return JSONResponse(
        {
            "approvals": board.to_dict(),
            "html": render.fragment(board, who.identity, csrf),
        }
    )


async def decide_route(request: Request) -> Response:
    inbox = _inbox(request)
    approval_id = str(request.path_params["approval_id"])
    decision = str(request.path_params["decision"])
    if decision not in DECISIONS:
        return _refuse(request, 404, "not found")
    kind: DecisionKind = DECISIONS[decision]
    who = inbox.identify(request, create=False)
    try:
        fields = await _fields(request)
    except DecisionRefused as refused:
        return _refuse(request, refused.exit_code, refused.message)
    if who.bad_token:
        return _unauthenticated(request, who)
    if who.identity is None or who.identity.via != "token":
        # A browser (a cookie session, or the proxy's header) must show the token of the
        # session its page was rendered for: a post from anywhere else changes nothing.
        bound = who.session is not None and who.session.identity == who.identity
        if not bound or not csrf_ok(who.session, fields.get("csrf")):
            return _refuse(request, 403, "missing or wrong CSRF token: nothing was changed")
    if who.identity is None:
        return _unauthenticated(request, who)
    if not who.identity.can_approve:
        return _refuse(
            request, 403, f"{who.identity.name} may not decide approvals (needs scope approve)"
        )
    try:
        job = await inbox.start(
            approval_id,
            who.identity.name,
            kind,
            edited=(fields.get("action") or "").strip().lower() or None,
            reason=(fields.get("reason") or "").strip()[:MAX_REASON],
        )
    except DecisionRefused as refused:
        code = refused.exit_code if refused.exit_code >= 400 else 409
        return _refuse(request, code, refused.message)
    if who.identity.via == "token":
        return JSONResponse(job.to_dict(), status_code=202)
    return RedirectResponse(f"/#approval-{approval_id}", status_code=303)


def build_app(
    settings: Settings, config: InboxConfig, extra_routes: Sequence[BaseRoute] = ()
) -> Starlette:
    """The inbox app; `extra_routes` are mounted beside its own (they find the `Inbox` at
    `request.app.state.inbox`) and get the same security headers."""
    inbox = Inbox(settings, config)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await inbox.decisions.drain()

    routes: list[BaseRoute] = [
        Route("/", page, methods=["GET"]),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/api/approvals", approvals_json, methods=["GET"]),
        Route(
            "/approvals/{approval_id}/{decision:str}",
            decide_route,
            methods=["POST"],
        ),
        Route("/static/inbox.js", static_js, methods=["GET"]),
        Route("/static/inbox.css", static_css, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        *extra_routes,
    ]
    app = Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)], lifespan=lifespan)
    app.state.inbox = inbox
    return app
