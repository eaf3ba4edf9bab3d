"""The server's policy: the configuration adds trusted callers and its own namespace."""

from __future__ import annotations

from pathlib import Path

from kubernetes import client

from mcp_server.config import ServerConfig
from mcp_server.gateway import Gateway
from mcp_server.state import ServerState
from policies import policy_from_dict


def _gateway() -> Gateway:
    configuration = client.Configuration()
    configuration.host = "http://127.0.0.1:1"
    return Gateway(client.ApiClient(configuration))


def test_configuration_extends_the_policy(tmp_path: Path) -> None:
    policy = policy_from_dict({"trusted_callers": ["from-policy"]})
    config = ServerConfig(
        state_dir=tmp_path,
        trusted_callers=frozenset({"from-config"}),
        agent_namespace="team-medic",
        pod_cache=False,
    )
    state = ServerState(config, _gateway(), policy=policy)
    try:
        assert state.policy.trusted_callers == {"from-policy", "from-config"}
        assert state.policy.is_protected("team-medic")
        assert state.policy.is_protected("kube-system")
        assert state.cache is None
        assert state.ready() == (True, "ok")
    finally:
        state.close()
    assert (tmp_path / "state.sqlite").exists()
