"""Who is asking, and whether a form post really came from our own page.

Three ways to be someone:

- a bearer token (`Authorization: Bearer ...`, the same token file as `kubemedic mcp --http`);
  its `caller` is the name recorded as the approver. Browsers never attach it on their own,
  so a request carrying one needs no CSRF token.
- a login with such a token: the server keeps a session (a random id in an HttpOnly,
  SameSite=Strict cookie) holding the caller's name and scopes, never the token.
- a trusted reverse-proxy header (`--trusted-user-header X-Forwarded-User`, as behind
  oauth2-proxy), honoured only when configured; that user may view and approve.

Every session has its own synchronizer token; a form post on a session (or behind the proxy
header) must carry it, compared in constant time.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from mcp_server.config import TokenConfig

Via = Literal["token", "session", "header"]

# The scopes that may look at approvals, and the one that may decide them.
VIEW_SCOPES = frozenset({"read", "approve"})
APPROVE = "approve"
# A proxy-authenticated user may view and decide: the proxy decided who gets this far.
HEADER_SCOPES = frozenset({"read", "approve"})
MAX_NAME = 128


@dataclass(frozen=True, slots=True)
class Identity:
    name: str
    scopes: frozenset[str]
    via: Via

    @property
    def can_view(self) -> bool:
        return bool(self.scopes & VIEW_SCOPES)

    @property
    def can_approve(self) -> bool:
        return APPROVE in self.scopes

    def describe(self) -> str:
        return f"{self.name} ({', '.join(sorted(self.scopes)) or 'no scopes'})"


class TokenBook:
    """The configured tokens, looked up in constant time."""

    def __init__(self, tokens: tuple[TokenConfig, ...]) -> None:
        self._tokens = tokens

    def __bool__(self) -> bool:
        return bool(self._tokens)

    def identify(self, presented: str, via: Via = "token") -> Identity | None:
        given = presented.strip().encode()
        found: TokenConfig | None = None
        for entry in self._tokens:
            # Compare with every entry so the timing does not tell which one matched.
            if hmac.compare_digest(given, entry.token.get_secret_value().encode()):
                found = entry
        if found is None or not given:
            return None
        return Identity(found.caller, frozenset(found.scopes), via)


def bearer(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer ...` header, or None."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def header_user(value: str | None) -> str | None:
    """A proxy's user header as a name, or None when it is empty or not a plausible name."""
    if value is None:
        return None
    name = value.strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        return None
    return name


@dataclass(slots=True)
class Session:
    id: str
    csrf: str
    identity: Identity | None
    created: float
    last_seen: float = field(default=0.0)


class SessionStore:
    """Sessions in this process's memory: a restart signs everyone out, which is fine for a
    page that a person reopens; nothing in a session is needed to decide an approval."""

    def __init__(
        self,
        *,
        lifetime_seconds: float = 12 * 3600,
        idle_seconds: float = 3600,
        max_sessions: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lifetime_seconds = lifetime_seconds
        self.idle_seconds = idle_seconds
        self.max_sessions = max_sessions
        self._clock = clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def new(self, identity: Identity | None = None) -> Session:
        now = self._clock()
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), identity, now, now)
        with self._lock:
            self._sweep(now)
            if len(self._sessions) >= self.max_sessions:
                # Drop the oldest anonymous (else the oldest) session rather than grow forever.
                victims = sorted(
                    self._sessions.values(), key=lambda s: (s.identity is not None, s.last_seen)
                )
                self._sessions.pop(victims[0].id, None)
            self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        now = self._clock()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if self._expired(session, now):
                del self._sessions[session_id]
                return None
            session.last_seen = now
            return session

    def drop(self, session_id: str | None) -> None:
        if session_id:
            with self._lock:
                self._sessions.pop(session_id, None)

    def _expired(self, session: Session, now: float) -> bool:
        return (
            now - session.created > self.lifetime_seconds
            or now - session.last_seen > self.idle_seconds
        )

    def _sweep(self, now: float) -> None:
        for key in [k for k, s in self._sessions.items() if self._expired(s, now)]:
            del self._sessions[key]


def csrf_ok(session: Session | None, presented: str | None) -> bool:
    """The synchronizer-token check: the form's token is this session's, in constant time."""
    if session is None or not presented:
        return False
    return hmac.compare_digest(session.csrf.encode(), presented.encode())
