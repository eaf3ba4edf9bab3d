"""Bearer tokens: constant-time lookup, scopes, and the local caller for stdio."""

from __future__ import annotations

import anyio
import pytest
from pydantic import SecretStr, ValidationError

from mcp_server.auth import StaticTokenVerifier, current_caller
from mcp_server.config import ServerConfig, TokenConfig

TOKENS = (
    TokenConfig(caller="viewer", token=SecretStr("v" * 20), scopes=frozenset({"read"})),
    TokenConfig(caller="healer", token=SecretStr("h" * 20), scopes=frozenset({"read", "heal"})),
)


def test_tokens_map_to_callers_and_scopes() -> None:
    verifier = StaticTokenVerifier(TOKENS)
    viewer = anyio.run(verifier.verify_token, "v" * 20)
    assert viewer is not None and viewer.client_id == "viewer" and viewer.scopes == ["read"]
    healer = anyio.run(verifier.verify_token, "h" * 20)
    assert healer is not None and set(healer.scopes) == {"read", "heal"}
    assert anyio.run(verifier.verify_token, "x" * 20) is None
    assert anyio.run(verifier.verify_token, "") is None


def test_short_tokens_and_unknown_scopes_are_refused() -> None:
    with pytest.raises(ValidationError):
        TokenConfig(caller="c", token=SecretStr("short"))
    with pytest.raises(ValidationError):
        TokenConfig(caller="c", token=SecretStr("t" * 20), scopes=frozenset({"admin"}))  # type: ignore[arg-type]


def test_without_a_token_the_caller_is_the_local_user() -> None:
    caller = current_caller(ServerConfig(local_caller="me", local_scopes=frozenset({"read"})))
    assert caller.name == "me" and caller.transport == "local"
    assert caller.may("read") and not caller.may("heal")
