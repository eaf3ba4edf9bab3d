"""The inbox's identities, sessions and CSRF check."""

from __future__ import annotations

from kubemedic.inbox.auth import Identity, SessionStore, TokenBook, bearer, csrf_ok, header_user
from mcp_server.config import TokenConfig


def test_tokens_identify_their_caller_and_scopes() -> None:
    book = TokenBook(
        (
            TokenConfig(caller="alice", token="a" * 20, scopes=frozenset({"approve"})),  # type: ignore[arg-type]
            TokenConfig(caller="bob", token="b" * 20),  # type: ignore[arg-type]
        )
    )
    alice = book.identify("a" * 20)
    assert alice is not None and alice.name == "alice"
    assert alice.can_approve and alice.can_view
    bob = book.identify(" " + "b" * 20 + " ")
    assert bob is not None and bob.can_view and not bob.can_approve
    assert book.identify("a" * 19) is None and book.identify("") is None
    assert bearer("Bearer xyz") == "xyz"
    assert bearer("Basic xyz") is None and bearer("Bearer ") is None
    assert header_user(" pat ") == "pat" and header_user("") is None
    assert header_user("a\nb") is None and header_user("x" * 129) is None


def test_sessions_expire_when_idle_or_old_and_csrf_is_per_session() -> None:
    now = [0.0]
    store = SessionStore(lifetime_seconds=100, idle_seconds=10, clock=lambda: now[0])
    one, two = store.new(), store.new()
    assert one.id != two.id and one.csrf != two.csrf
    assert csrf_ok(one, one.csrf) and not csrf_ok(one, two.csrf)
    assert not csrf_ok(one, None) and not csrf_ok(None, one.csrf)
    now[0] = 9
    assert store.get(one.id) is one
    now[0] = 15  # two was idle for 15 s
    assert store.get(two.id) is None and store.get(one.id) is one
    for step in range(16, 101, 5):
        now[0] = step
        assert store.get(one.id) is one
    now[0] = 101
    assert store.get(one.id) is None  # older than its lifetime
    store.drop("nothing")
    assert store.get(None) is None


def test_a_full_store_drops_the_oldest_anonymous_session_first() -> None:
    store = SessionStore(max_sessions=2)
    signed = store.new(Identity("alice", frozenset({"approve"}), "session"))
    anonymous = store.new()
    third = store.new()
    assert store.get(signed.id) is signed and store.get(third.id) is third
    assert store.get(anonymous.id) is None
