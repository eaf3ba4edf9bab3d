"""Honest credentials: a kubeconfig that impersonates is refused at start, `--context` picks
the named context (a real stdio MCP session against kubesim), in-cluster inside a pod."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
import typer
import yaml
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from typer.testing import CliRunner

from kubemedic.commands import mcp
from kubesim import KubeSim
from mcp_server.gateway import ConfigurationError, Gateway, RetryPolicy, Unavailable

BARE = """
apiVersion: v1
kind: Pod
metadata: {name: hello, namespace: default}
spec:
  containers:
  - name: app
    image: nginx:1.25
"""


def _app() -> typer.Typer:
    app = typer.Typer()
    mcp.register(app)

    @app.callback()
    def _root() -> None:
        """root"""

    return app


def _two_contexts(sim: KubeSim, path: Path, **user_extra: Any) -> Path:
    """The sim's kubeconfig plus a context `dead` (nothing listens) made current."""
    assert sim.kubeconfig_path is not None
    config = yaml.safe_load(Path(sim.kubeconfig_path).read_text())
    sim_context = config["contexts"][0]
    sim_context["name"] = "sim"
    cluster = dict(config["clusters"][0])
    config["clusters"].append(
        {"name": "dead", "cluster": {**cluster["cluster"], "server": "https://127.0.0.1:1"}}
    )
    config["contexts"].append(
        {"name": "dead", "context": {"cluster": "dead", "user": sim_context["context"]["user"]}}
    )
    config["current-context"] = "dead"
    for user in config["users"]:
        user["user"].update(user_extra)
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize(
    "impersonation",
    [
        {"as": "system:serviceaccount:kube-system:kubemedic"},
        {"as-groups": ["readers"]},
        {"as": "jane", "as-uid": "1234"},
    ],
)
def test_a_kubeconfig_that_impersonates_is_refused_at_start(
    sim: KubeSim, tmp_path: Path, impersonation: dict[str, Any]
) -> None:
    path = _two_contexts(sim, tmp_path / "kubeconfig", **impersonation)
    result = CliRunner().invoke(
        _app(),
        ["mcp", "--kubeconfig", str(path), "--context", "sim", "--state-dir", str(tmp_path)],
    )
    assert result.exit_code == 2, result.output
    assert "impersonates" in result.output
    for key in impersonation:
        assert key in result.output
    assert "kubemedic would act with the user's own credentials" in result.output
    assert not [r for r in sim.requests if r.path.startswith("/api/")]  # nothing was sent


def test_an_unknown_context_is_named(sim: KubeSim, tmp_path: Path) -> None:
    path = _two_contexts(sim, tmp_path / "kubeconfig")
    with pytest.raises(ConfigurationError) as refused:
        Gateway.from_kubeconfig(path, "staging")
    assert 'context "staging" is not in the kubeconfig (contexts: dead, sim)' in str(refused.value)


def test_in_cluster_credentials_inside_a_pod(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    monkeypatch.setenv("HOME", str(tmp_path))  # a ~/.kube/config must not win either
    with pytest.raises(ConfigurationError) as missing:
        Gateway.from_kubeconfig()
    # This test process is no pod: the service account's files are missing, and it says so.
    assert "in-cluster service account" in str(missing.value)


def test_context_selects_the_named_context(sim: KubeSim, tmp_path: Path) -> None:
    sim.apply(BARE)
    sim.advance(10)
    path = _two_contexts(sim, tmp_path / "kubeconfig")
    dead = Gateway.from_kubeconfig(path, retry=RetryPolicy(max_attempts=1))
    with pytest.raises(Unavailable):
        dead.get_namespace("default")  # the current context points nowhere
    dead.close()

    params = StdioServerParameters(
        command=str(Path(sys.executable).with_name("kubemedic")),
        args=["mcp", "--context", "sim", "--no-cache"],
        env={
            **os.environ,
            "KUBEMEDIC_KUBECONFIG": str(path),
            "KUBEMEDIC_STATE_DIR": str(tmp_path / "state"),
            "KUBEMEDIC_LOG_LEVEL": "WARNING",
        },
    )

    async def main() -> None:
        with anyio.fail_after(60):
            async with (
                stdio_client(params) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                result = await session.call_tool(
                    "diagnose_pod", {"namespace": "default", "pod_name": "hello"}
                )
                assert result.structuredContent is not None
                assert result.structuredContent["success"] is True, result.structuredContent

    anyio.run(main)


def test_record_refuses_a_kubeconfig_that_impersonates(sim: KubeSim, tmp_path: Path) -> None:
    from evals.record import KubernetesReader, RecordError

    path = _two_contexts(sim, tmp_path / "kubeconfig", **{"as": "jane"})
    with pytest.raises(RecordError) as refused:
        KubernetesReader(path, "sim")
    assert "impersonates" in str(refused.value)
    assert not [r for r in sim.requests if r.path.startswith("/api/")]
