"""`kubemedic approvals list|show` as a person runs it: piped into another program on an
80-column terminal every field is whole; JSON and YAML carry the preview, the incident, the
LLM rationale and the veto; `show` prints the change the approval approves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import yaml
from mcp.shared.memory import create_connected_server_and_client_session

from agent.incidents import IncidentRegistry
from agent.watch import WatchSettings, run_watch
from kubesim import KubeSim
from mcp_server.approvals import ApprovalStore
from mcp_server.server import create_server
from tests.integration.agent.conftest import server_state, writes
from tests.integration.agent.test_scenarios import crash_loop
from tests.unit.agent.fakes import rationale_args, structured_model

ROOT = Path(__file__).resolve().parents[3]
SUMMARY = (
    "the container keeps crashing: the process exits with status 1 a few seconds after it "
    "starts, each time after logging that its database connection was refused"
)


def _leave_waiting(sim: KubeSim, state_dir: Path) -> tuple[str, str]:
    """One watch-loop poll with an LLM that proposes a rollback: vetoed, the rules' pod
    delete waits for a human."""
    name = crash_loop(sim)
    state = server_state(sim, state_dir)
    hostile = structured_model(rationale_args("rollback_deployment", summary=SUMMARY))

    async def main() -> None:
        settings = WatchSettings(
            state_dir=state_dir, policy=state.policy, max_polls=1, model=hostile
        )
        async with create_connected_server_and_client_session(create_server(state)) as session:
            await run_watch(session, settings)

    try:
        anyio.run(main)
    finally:
        state.close()
    (incident,) = IncidentRegistry(state_dir / "incidents.sqlite").open_incidents()
    (approval,) = ApprovalStore(state_dir / "state.sqlite").list("pending")
    assert approval.target == f"Pod/default/{name}"
    return incident.id, approval.id


def _cli(sim: KubeSim, *args: str) -> subprocess.CompletedProcess[str]:
    """The command line with stdout a pipe (as in `kubemedic approvals list | cat`)."""
    env = {
        **os.environ,
        "COLUMNS": "80",
        "KUBEMEDIC_KUBECONFIG": str(sim.kubeconfig_path),
        "KUBEMEDIC_LLM": "none",
    }
    return subprocess.run(
        [sys.executable, "-m", "kubemedic", "approvals", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def test_list_and_show_are_whole_when_piped(sim: KubeSim, tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    incident_id, approval_id = _leave_waiting(sim, state_dir)
    approval = ApprovalStore(state_dir / "state.sqlite").get(approval_id)
    assert approval is not None
    delete_line = (
        f"  delete {approval.target}, recreated by ReplicaSet/default/"
        f"{approval.target.split('/')[-1].rsplit('-', 1)[0]} of Deployment/default/web"
    )
    sim.reset_requests()
    where = ("--state-dir", str(state_dir))

    listed = _cli(sim, "list", *where)
    assert listed.returncode == 0, listed.stderr
    text = listed.stdout
    for whole in (
        approval_id,
        approval.target,
        approval.reason,
        approval.requested_by,
        incident_id,
        SUMMARY,
        "veto:        rollback_deployment",
        delete_line,
    ):
        assert whole in text, (whole, text)
    assert "…" not in text and "─" not in text  # plain rows: nothing cut, no table art

    as_json = _cli(sim, "list", "-o", "json", *where)
    assert as_json.returncode == 0, as_json.stderr
    (row,) = json.loads(as_json.stdout)
    assert row["id"] == approval_id
    assert row["preview"]["deletes"][0]["object"] == approval.target
    assert row["preview"] == row["details"]["preview"]
    incident: dict[str, Any] = row["incident"]
    assert incident["incident_id"] == incident_id
    assert incident["llm_rationale"]["summary"] == SUMMARY
    assert incident["veto"]["proposed_action"] == "rollback_deployment"
    alias = _cli(sim, "list", "--json", *where)
    assert json.loads(alias.stdout) == [row]

    as_yaml = _cli(sim, "list", "-o", "yaml", *where)
    assert as_yaml.returncode == 0, as_yaml.stderr
    assert yaml.safe_load(as_yaml.stdout) == [row]

    shown = _cli(sim, "show", approval_id, *where)
    assert shown.returncode == 0, shown.stderr
    for whole in (delete_line, "dry run: the API server accepted delete_pod", SUMMARY):
        assert whole in shown.stdout, (whole, shown.stdout)
    assert "evidence: issue CrashLoopBackOff" in shown.stdout
    assert "rule decision: delete_pod" in shown.stdout
    assert "the process exits with status 1 at start" in shown.stdout  # the LLM's cause
    shown_json = _cli(sim, "show", approval_id, "-o", "json", *where)
    assert json.loads(shown_json.stdout) == row

    unknown = _cli(sim, "show", "nope", *where)
    assert unknown.returncode == 1
    assert "no approval nope" in unknown.stderr
    bad = _cli(sim, "list", "-o", "xml", *where)
    assert bad.returncode == 2 and "xml" in bad.stderr
    # Looking changes nothing: no request reached the cluster.
    assert not writes(sim) and not sim.requests
