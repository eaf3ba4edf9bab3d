"""Who is calling: bearer tokens with scopes over HTTP, the local user over stdio.

The HTTP transport checks tokens with the MCP SDK's bearer middleware (401 without a valid
token, 403 without the `read` scope); each tool then asks `current_caller()` for the caller's
name and scopes, so a read-only token can diagnose but never heal, whatever it sends.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken, TokenVerifier

from mcp_server.config import ServerConfig, TokenConfig


@dataclass(frozen=True)
class Caller:
    name: str
    scopes: frozenset[str]
    transport: str  # "http" or "local"

    def may(self, scope: str) -> bool:
        return scope in self.scopes


class StaticTokenVerifier(TokenVerifier):
    """Tokens from the server configuration, compared in constant time."""

    def __init__(self, tokens: tuple[TokenConfig, ...]) -> None:
        self._tokens = tokens

    async def verify_token(self, token: str) -> AccessToken | None:
        presented = token.encode()
        found: TokenConfig | None = None
        for entry in self._tokens:
            # Compare against every entry so timing does not reveal which one matched.
            if hmac.compare_digest(presented, entry.token.get_secret_value().encode()):
                found = entry
        if found is None:
            return None
        return AccessToken(token=token, client_id=found.caller, scopes=sorted(found.scopes))


def current_caller(config: ServerConfig) -> Caller:
    """The caller of the tool being run: its token's identity, else the local user."""
    access = get_access_token()
    if access is not None:
        return Caller(access.client_id, frozenset(access.scopes), "http")
    return Caller(config.local_caller, frozenset(config.local_scopes), "local")
