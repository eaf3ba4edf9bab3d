"""One state-directory layout: the server, the autonomous loop and the CLI settings name the
same files, so processes sharing a state directory share its stores."""

from __future__ import annotations

from pathlib import Path

from agent.watch import WatchSettings
from kubemedic.settings import Settings
from kubemedic_store import StateLayout
from mcp_server.config import ServerConfig
from policies import Policy


def test_every_room_names_the_same_files(tmp_path: Path) -> None:
    layout = StateLayout(tmp_path)
    server = ServerConfig(state_dir=tmp_path)
    watch = WatchSettings(state_dir=tmp_path, policy=Policy())
    settings = Settings(state_dir=tmp_path, database_url=None, database_url_file=None)

    assert server.store_path == settings.approvals_db == settings.ratelimit_db == layout.state_db
    assert server.audit_path == settings.audit_path == layout.audit_log
    assert watch.checkpoint_db == settings.checkpoint_db == layout.checkpoints_db
    assert watch.incidents_db == settings.incidents_target == layout.incidents_db


def test_the_files_keep_their_released_names(tmp_path: Path) -> None:
    # Renaming one would strand an upgraded installation's approvals, incidents or audit chain.
    layout = StateLayout(tmp_path)
    names = {
        layout.state_db: "state.sqlite",
        layout.incidents_db: "incidents.sqlite",
        layout.checkpoints_db: "checkpoints.sqlite",
        layout.audit_log: "audit.jsonl",
        layout.slack_db: "slack.sqlite",
        layout.legacy_approvals_db: "approvals.sqlite",
        layout.legacy_ratelimits_db: "ratelimits.sqlite",
    }
    for path, name in names.items():
        assert path == tmp_path / name
