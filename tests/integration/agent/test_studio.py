"""The LangGraph server factory (langgraph.json) against kubesim via `kubemedic mcp` on stdio."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import pytest

from agent import studio
from kubesim import KubeSim
from tests.integration.agent.conftest import one_pod
from tests.integration.agent.test_scenarios import GREEDY

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[3]


def test_langgraph_json_points_at_the_factory() -> None:
    config = json.loads((ROOT / "langgraph.json").read_text())
    path, _, attribute = config["graphs"]["kubemedic"].partition(":")
    assert (ROOT / path).resolve() == Path(studio.__file__).resolve()
    assert callable(getattr(studio, attribute))
    nodes = set(studio.topology().get_graph().nodes)
    assert {"diagnose", "rationale", "gate", "approve", "act", "verify", "escalate", "report"} <= (
        nodes
    )


async def test_factory_runs_an_incident_over_stdio(
    sim: KubeSim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim.apply(GREEDY)
    sim.advance(10)
    pod = one_pod(sim, "greedy-")["metadata"]["name"]
    command = f"{shlex.quote(sys.executable)} -m kubemedic mcp --no-cache"
    for key, value in {
        "KUBEMEDIC_MCP_COMMAND": command,
        "KUBEMEDIC_KUBECONFIG": str(sim.kubeconfig_path),
        "KUBEMEDIC_STATE_DIR": str(tmp_path / "state"),
        "KUBEMEDIC_LLM": "none",
        "KUBEMEDIC_LOG_LEVEL": "WARNING",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("KUBEMEDIC_MCP_URL", raising=False)
    assert os.environ["KUBEMEDIC_MCP_COMMAND"] == command
    async with studio.make_graph({}) as graph:
        final = await graph.ainvoke(
            {"incident_id": "studio-1", "namespace": "default", "pod_name": pod}
        )
    assert final["outcome"] == "handed_to_human"
    assert [entry["node"] for entry in final["timeline"]][-1] == "report"
