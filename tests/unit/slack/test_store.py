"""Slack's remembered messages and signatures, on SQLite and on the shared PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from kubemedic.slack.store import SlackStore


def _stores(target: str | Path, tmp_path: Path) -> tuple[SlackStore, SlackStore]:
    """Two replicas: on SQLite they share a state directory, on PostgreSQL only the database."""
    if isinstance(target, Path):
        return SlackStore(tmp_path / "state"), SlackStore(tmp_path / "state")
    first = SlackStore(tmp_path / "a", database_url=target)
    return first, SlackStore(tmp_path / "b", database_url=target)


def test_a_replay_is_refused_by_every_replica(store_target: str | Path, tmp_path: Path) -> None:
    first, second = _stores(store_target, tmp_path)
    assert first.first_sight("v0=abc", 600)
    assert not second.first_sight("v0=abc", 600)
    assert second.first_sight("v0=def", 600)


def test_a_message_posted_by_one_replica_is_updated_by_another(
    store_target: str | Path, tmp_path: Path
) -> None:
    first, second = _stores(store_target, tmp_path)
    first.save_message("ap-1", "C1", "1700000000.000001", {"incident_id": "inc-1"})
    second.record_outcome("inc-1", "healed", "pod replaced", "alice via Slack")
    posted = first.message("ap-1")
    assert posted is not None and (posted.channel, posted.ts) == ("C1", "1700000000.000001")
    assert (posted.outcome, posted.approver) == ("healed", "alice via Slack")
    assert [m.approval_id for m in second.messages_of_incident("inc-1")] == ["ap-1"]
    if not isinstance(store_target, Path):
        assert not (tmp_path / "a" / "slack.sqlite").exists()
