"""`kubemedic record` against a kubesim incident, then the recording replayed: same decision.

The live decision is the rule engine's on the live cluster's diagnosis (through the MCP
server's diagnose tool); the replay runs the recorded scenario through the whole eval stack.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from evals.format import dump_scenario, load_scenario
from evals.harness import run_scenario
from evals.record import record
from kubemedic.cli import app
from kubesim import KubeSim
from mcp_server.auth import Caller
from mcp_server.config import ServerConfig
from mcp_server.gateway import Gateway
from mcp_server.state import ServerState
from mcp_server.tools import impl
from mcp_server.tools.models import DiagnoseInput
from policies import DecisionContext, Diagnosis, decide, load_policy

PASSWORD = "Pa55word-Qx81z"
API_KEY = "live-key-7f3a9c21"

DEPLOYMENT = f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: billing, namespace: default}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: billing}}}}
  template:
    metadata: {{labels: {{app: billing}}}}
    spec:
      containers:
      - name: app
        image: busybox:1.36
        command:
        - sh
        - -c
        - >-
          echo connecting to postgres://billing:{PASSWORD}@db:5432/billing;
          echo api_key={API_KEY}; exit 1
        env:
        - {{name: STRIPE_KEY, value: "{API_KEY}"}}
        resources: {{limits: {{memory: 64Mi}}, requests: {{memory: 32Mi, cpu: 10m}}}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {{name: billing, namespace: default}}
spec: {{minAvailable: 1, selector: {{matchLabels: {{app: billing}}}}}}
---
apiVersion: v1
kind: LimitRange
metadata: {{name: limits, namespace: default}}
spec: {{limits: [{{type: Container, max: {{memory: 1Gi}}}}]}}
"""


@pytest.fixture
def incident() -> Iterator[tuple[KubeSim, str]]:
    with KubeSim() as sim:
        sim.apply(DEPLOYMENT)
        sim.advance(180, step=180)  # several crashes: CrashLoopBackOff with restarts > 3
        from kubesim.store import PODS

        pods = sim.store.list(PODS, "default")
        assert pods
        yield sim, pods[0]["metadata"]["name"]


def live_decision(sim: KubeSim, pod: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        config = ServerConfig(kubeconfig=sim.kubeconfig_path, state_dir=Path(tmp), pod_cache=False)
        state = ServerState(config, Gateway.from_kubeconfig(sim.kubeconfig_path))
        try:
            result = impl.diagnose_pod(
                state,
                DiagnoseInput(namespace="default", pod_name=pod),
                Caller("test", frozenset({"read"}), "local"),
            )
        finally:
            state.close()
    diagnosis = Diagnosis.model_validate(result.model_dump(mode="json"))
    assert "CrashLoopBackOff" in diagnosis.issue_types
    return decide(diagnosis, DecisionContext(policy=load_policy(None))).action.value


def test_recording_scrubs_secrets_and_replay_gives_the_same_decision(
    incident: tuple[KubeSim, str],
) -> None:
    sim, pod = incident
    expected = live_decision(sim, pod)
    scenario = record("default", pod, kubeconfig=sim.kubeconfig_path)
    text = dump_scenario(scenario)
    assert PASSWORD not in text and API_KEY not in text
    kinds = {o["kind"] for o in scenario.cluster.objects}
    assert {"Pod", "ReplicaSet", "Deployment", "Node", "Event", "Namespace"} <= kinds
    assert {"PodDisruptionBudget", "LimitRange"} <= kinds
    assert any(log.previous for log in scenario.logs)  # the crashed instance's log
    replay = asyncio.run(run_scenario(scenario))
    assert replay.error is None
    assert "CrashLoopBackOff" in replay.detected_issues
    assert replay.decisions[:1] == [expected]
    assert not replay.writes  # approvals: none, so nothing may be written


def test_record_command_writes_a_scenario_file(
    incident: tuple[KubeSim, str], tmp_path: Path
) -> None:
    sim, pod = incident
    out = tmp_path / "recorded.yaml"
    result = CliRunner().invoke(
        app,
        ["record", "--kubeconfig", str(sim.kubeconfig_path), "--namespace", "default",
         "--pod", pod, "--out", str(out), "--name", "billing-crash"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    scenario = load_scenario(out)
    assert scenario.name == "billing-crash" and scenario.target.pod == pod
    assert PASSWORD not in out.read_text()
    assert yaml.safe_load(out.read_text())["expect"]["forbidden"] == ["any_write"]


def test_record_of_a_missing_pod_fails_cleanly(incident: tuple[KubeSim, str]) -> None:
    sim, _ = incident
    result = CliRunner().invoke(
        app, ["record", "--kubeconfig", str(sim.kubeconfig_path), "-n", "default", "-p", "nope"]
    )
    assert result.exit_code == 1
    assert "not found" in result.output
