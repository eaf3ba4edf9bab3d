"""`kubemedic approvals list|approve|reject` on an incident the watch loop left waiting."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from mcp.shared.memory import create_connected_server_and_client_session
from typer.testing import CliRunner

from agent.incidents import IncidentRegistry
from agent.watch import WatchSettings, run_watch
from kubemedic.agent_runtime import veto_audit_sink
from kubemedic.cli import app
from kubesim import KubeSim
from mcp_server.approvals import ApprovalStore
from mcp_server.audit import AuditLog, verify
from mcp_server.server import create_server
from tests.integration.agent.conftest import server_state, writes
from tests.integration.agent.test_scenarios import crash_loop

runner = CliRunner()


def leave_waiting(sim: KubeSim, state_dir: Path) -> tuple[str, str]:
    """Run the loop once under the default policy: the pod delete waits for a human."""
    crash_loop(sim)
    state = server_state(sim, state_dir)

    async def main() -> None:
        settings = WatchSettings(state_dir=state_dir, policy=state.policy, max_polls=1)
        async with create_connected_server_and_client_session(create_server(state)) as session:
            await run_watch(session, settings)

    try:
        anyio.run(main)
    finally:
        state.close()
    (incident,) = IncidentRegistry(state_dir / "incidents.sqlite").open_incidents()
    (approval,) = ApprovalStore(state_dir / "state.sqlite").list("pending")
    return incident.id, approval.id


@pytest.fixture
def env(sim: KubeSim, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBEMEDIC_KUBECONFIG", str(sim.kubeconfig_path))
    monkeypatch.setenv("KUBEMEDIC_LLM", "none")


def test_list_then_reject(sim: KubeSim, tmp_path: Path, env: None) -> None:
    state_dir = tmp_path / "state"
    incident_id, approval_id = leave_waiting(sim, state_dir)
    sim.reset_requests()

    listed = runner.invoke(app, ["approvals", "list", "--json", "--state-dir", str(state_dir)])
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.output)
    assert row["id"] == approval_id and row["action"] == "delete_pod"
    assert row["incident"]["incident_id"] == incident_id
    assert row["incident"]["payload"]["rule_decision"]["action"] == "delete_pod"

    rejected = runner.invoke(
        app,
        [
            "approvals",
            "reject",
            approval_id,
            "--by",
            "erin",
            "--reason",
            "change freeze",
            "--state-dir",
            str(state_dir),
        ],
    )
    assert rejected.exit_code == 0, rejected.output
    assert "rejected" in rejected.output
    assert not writes(sim)
    incident = IncidentRegistry(state_dir / "incidents.sqlite").get(incident_id)
    assert incident is not None and incident.outcome == "rejected"
    records = AuditLog(state_dir / "audit.jsonl").records()
    assert [r["result"] for r in records] == ["refused", "refused"]
    assert records[-1]["approver"] == "erin"
    assert records[-1]["error"]["code"] == "approval_rejected"
    assert verify(state_dir / "audit.jsonl").ok


def test_edit_to_a_milder_action(sim: KubeSim, tmp_path: Path, env: None) -> None:
    state_dir = tmp_path / "state"
    incident_id, approval_id = leave_waiting(sim, state_dir)
    sim.reset_requests()
    harsher = runner.invoke(
        app,
        [
            "approvals",
            "approve",
            approval_id,
            "--by",
            "frank",
            "--edit",
            "rollback_deployment",
            "--state-dir",
            str(state_dir),
        ],
    )
    assert harsher.exit_code == 2, harsher.output
    edited = runner.invoke(
        app,
        [
            "approvals",
            "approve",
            approval_id,
            "--by",
            "frank",
            "--edit",
            "investigate_manually",
            "--state-dir",
            str(state_dir),
        ],
    )
    assert edited.exit_code == 0, edited.output
    assert not writes(sim)
    incident = IncidentRegistry(state_dir / "incidents.sqlite").get(incident_id)
    assert incident is not None and incident.outcome == "handed_to_human"
    approval = ApprovalStore(state_dir / "state.sqlite").get(approval_id)
    assert approval is not None and approval.status == "rejected"


def test_a_veto_is_chained_into_the_audit_trail(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    sink = veto_audit_sink(path, "kubemedic-agent")
    sink(
        {
            "kind": "llm_veto",
            "incident_id": "inc-1",
            "target": {"kind": "Pod", "namespace": "default", "name": "web-1"},
            "proposed_action": "rollback_deployment",
            "proposal": {"action": "rollback_deployment"},
            "rule_action": "delete_pod",
            "reason": "rollback_deployment is not allowed here",
        }
    )
    (record,) = AuditLog(path).records()
    assert record["result"] == "refused" and record["dry_run"] is True
    assert record["action"] == "rollback_deployment"
    assert record["initiator"] == "kubemedic-agent (llm)"
    assert verify(path).ok
