"""A real `kubemedic mcp` process killed (SIGKILL) between intent, write and outcome.

The server dies at a fault point while it executes a delete; a second server on the same
state directory reconciles the orphaned intent when its first session starts. Whatever the
point, the intent ends with exactly one outcome, the audit trail holds one intent and one
outcome record for it and its chain verifies, the pod is deleted at most once, and the same
idempotency key answers the recorded outcome without writing again. A human's approval used
by a write that never happened holds again after recovery.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import Process
from anyio.streams.text import TextReceiveStream
from mcp import ClientSession, types
from mcp.shared.exceptions import McpError
from mcp.shared.message import SessionMessage

from kubesim import KubeSim
from mcp_server.approvals import ApprovalStore
from mcp_server.audit import verify
from mcp_server.config import STATE_DB
from mcp_server.executor import FAULT_POINT_ENV
from mcp_server.gateway import Gateway
from tests.integration.manifests import CRASHER
from tests.integration.mcp.conftest import wait_for, writes

pytestmark = pytest.mark.slow  # several server processes per case

KUBEMEDIC = Path(sys.executable).with_name("kubemedic")
CALLER = "ops"  # the local caller, trusted with force: no human approval in the loop
KEY = "crash-key-1"


def _crasher(sim: KubeSim) -> dict[str, Any] | None:
    gw = Gateway.from_kubeconfig(sim.kubeconfig_path)
    try:
        return next(
            (
                p
                for p in gw.list_pods("default").items
                if p["metadata"]["name"].startswith("crasher-")
                and not p["metadata"].get("deletionTimestamp")
            ),
            None,
        )
    finally:
        gw.close()


def _looping(sim: KubeSim) -> bool:
    pod = _crasher(sim)
    if pod is None:
        return False
    status = (pod["status"].get("containerStatuses") or [{}])[0]
    waiting = (status.get("state") or {}).get("waiting") or {}
    return waiting.get("reason") == "CrashLoopBackOff" and status.get("restartCount", 0) > 3


def _env(sim: KubeSim, state_dir: Path, fault: str | None) -> dict[str, str]:
    # Nothing from the developer's own KUBEMEDIC_* settings may leak into the server.
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBEMEDIC_")}
    env.update(
        KUBEMEDIC_KUBECONFIG=str(sim.kubeconfig_path),
        KUBEMEDIC_STATE_DIR=str(state_dir),
        KUBEMEDIC_CALLER=CALLER,
        KUBEMEDIC_LOG_LEVEL="WARNING",
    )
    if fault is not None:
        env[FAULT_POINT_ENV] = fault
    return env


@asynccontextmanager
async def _server(
    env: dict[str, str], errlog: Path
) -> AsyncIterator[tuple[ClientSession, Process]]:
    """`kubemedic mcp` over its own pipes (the SDK's stdio client hides the exit status)."""
    with open(errlog, "ab") as stderr:
        process = await anyio.open_process(
            [str(KUBEMEDIC), "mcp", "--trust", CALLER], env=env, stderr=stderr
        )
    read_writer, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_stream, write_reader = anyio.create_memory_object_stream[SessionMessage](0)

    async def server_to_client() -> None:
        assert process.stdout is not None
        async with read_writer:
            buffer = ""
            async for chunk in TextReceiveStream(process.stdout):
                *lines, buffer = (buffer + chunk).split("\n")
                for line in lines:
                    message = types.JSONRPCMessage.model_validate_json(line)
                    await read_writer.send(SessionMessage(message))

    async def client_to_server() -> None:
        assert process.stdin is not None
        async with write_reader:
            async for message in write_reader:
                body = message.message.model_dump_json(by_alias=True, exclude_none=True)
                try:
                    await process.stdin.send((body + "\n").encode())
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    return  # the server is gone; the session sees its stdout close

    async with process, anyio.create_task_group() as group:
        group.start_soon(server_to_client)
        group.start_soon(client_to_server)
        try:
            async with ClientSession(read_stream, write_stream) as session:
                await session.initialize()
                yield session, process
        finally:
            assert process.stdin is not None
            try:
                await process.stdin.aclose()  # a stdio server stops at the end of its input
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                pass
            await process.wait()
            group.cancel_scope.cancel()


async def _call(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await session.call_tool(tool, arguments)
    assert result.structuredContent is not None, result.content
    data = dict(result.structuredContent)
    assert result.isError is (data.get("success") is False), data
    return data


def _rows(state_dir: Path, sql: str) -> list[dict[str, Any]]:
    with closing(sqlite3.connect(state_dir / STATE_DB)) as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute(sql).fetchall()]


def _phases(audit: Path) -> Counter[tuple[str, str]]:
    """(action_id, phase) -> how many records the trail holds."""
    counts: Counter[tuple[str, str]] = Counter()
    for line in audit.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        action_id = (record.get("details") or {}).get("action_id")
        if record.get("phase") and action_id:
            counts[(str(action_id), str(record["phase"]))] += 1
    return counts


def _outcome_records(audit: Path, action_id: str) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in audit.read_text(encoding="utf-8").splitlines()]
    return [
        r
        for r in records
        if r.get("phase") == "outcome" and (r.get("details") or {}).get("action_id") == action_id
    ]


def _pod_deletes(sim: KubeSim) -> int:
    return sum(1 for r in writes(sim) if r.resource == "pods" and r.verb == "delete")


def _looping_pod(sim: KubeSim) -> tuple[str, str]:
    sim.apply(CRASHER)
    wait_for(sim, lambda: _looping(sim))
    pod = _crasher(sim)
    assert pod is not None
    sim.reset_requests()
    return str(pod["metadata"]["name"]), str(pod["metadata"]["uid"])


async def _killed_by(session: ClientSession, arguments: dict[str, Any]) -> None:
    """auto_heal_pod that never answers: the server dies and the client sees its pipe close."""
    with pytest.raises(McpError) as dropped:
        await session.call_tool("auto_heal_pod", arguments)
    assert dropped.value.error.code == types.CONNECTION_CLOSED


def _trail_is_sound(audit: Path, env: dict[str, str]) -> None:
    assert verify(audit).ok, verify(audit)
    cli = subprocess.run(
        [str(KUBEMEDIC), "audit", "verify", str(audit)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert cli.returncode == 0, cli.stderr
    assert "chain intact" in cli.stdout


@pytest.mark.parametrize(
    ("fault", "recovered"), [("after_intent", "not_applied"), ("after_write", "applied")]
)
def test_a_server_killed_at_a_fault_point_is_reconciled_once(
    sim: KubeSim, tmp_path: Path, fault: str, recovered: str
) -> None:
    pod, uid = _looping_pod(sim)
    state_dir = tmp_path / "state"
    audit = state_dir / "audit.jsonl"
    errlog = tmp_path / "server.log"
    heal = {
        "namespace": "default",
        "pod_name": pod,
        "idempotency_key": KEY,
        "force": True,
    }

    async def main() -> None:
        with anyio.fail_after(120):
            # 1. The server dies at the fault point while it executes the delete.
            async with _server(_env(sim, state_dir, fault), errlog) as (session, process):
                plan = await _call(session, "plan_healing", namespace="default", pod_name=pod)
                assert plan["action"] == "delete_pod" and plan["writes"] is True, plan
                heal["plan_id"] = plan["plan_id"]
                await _killed_by(session, heal)
            assert process.returncode == -signal.SIGKILL, errlog.read_text()

            (orphan,) = _rows(state_dir, "SELECT * FROM intents")
            assert orphan["idempotency_key"] == KEY and orphan["outcome"] is None
            action_id = str(orphan["action_id"])
            # The intent record is fsynced before either fault point; no outcome record yet.
            assert _phases(audit) == Counter({(action_id, "intent"): 1})
            assert _pod_deletes(sim) == (1 if fault == "after_write" else 0)
            sim.advance(30)  # the cluster goes on meanwhile: a deleted pod is replaced

            # 2. A new server on the same state directory reconciles at its first session.
            async with _server(_env(sim, state_dir, None), errlog) as (session, process):
                (row,) = _rows(state_dir, "SELECT * FROM intents")
                assert row["outcome"] == recovered, row
                assert json.loads(row["result"])["recovered"] is True
                status = await _call(session, "get_action_status", action_id=action_id)
                assert status["outcome"] == recovered
                assert status["plan_id"] == heal["plan_id"]

                # The same key answers the recorded outcome and writes nothing.
                before = len(writes(sim))
                again = await _call(session, "auto_heal_pod", **heal)
                assert len(writes(sim)) == before
                if recovered == "applied":
                    assert again["success"] is True, again
                    assert again["replayed"] is True and again["action_id"] == action_id
                else:
                    error = again["error"]
                    assert error["code"] == "write_failed", error
                    assert error["replayed"] is True and error["written"] is False
                    assert error["action_id"] == action_id
            assert process.returncode == 0, errlog.read_text()

    anyio.run(main)

    assert _pod_deletes(sim) == (1 if fault == "after_write" else 0)
    if fault == "after_intent":
        still = _crasher(sim)
        assert still is not None and still["metadata"]["uid"] == uid
    (row,) = _rows(state_dir, "SELECT * FROM intents")
    action_id = str(row["action_id"])
    assert _phases(audit) == Counter({(action_id, "intent"): 1, (action_id, "outcome"): 1})
    (outcome,) = _outcome_records(audit, action_id)
    assert outcome["result"] == recovered and outcome["details"]["recovered"] is True
    # A write that never happened gives its rate-limit slot back; one that did keeps it.
    reserved = _rows(state_dir, "SELECT * FROM actions")
    assert len(reserved) == (1 if recovered == "applied" else 0), reserved
    _trail_is_sound(audit, _env(sim, state_dir, None))


def test_an_approval_whose_write_never_happened_is_granted_again(
    sim: KubeSim, tmp_path: Path
) -> None:
    pod, _ = _looping_pod(sim)
    state_dir = tmp_path / "state"
    audit = state_dir / "audit.jsonl"
    errlog = tmp_path / "server.log"
    approvals = ApprovalStore(state_dir / STATE_DB)
    heal: dict[str, Any] = {"namespace": "default", "pod_name": pod, "idempotency_key": KEY}

    async def main() -> None:
        with anyio.fail_after(120):
            async with _server(_env(sim, state_dir, "after_intent"), errlog) as (
                session,
                process,
            ):
                plan = await _call(session, "plan_healing", namespace="default", pod_name=pod)
                heal["plan_id"] = plan["plan_id"]
                asked = await _call(session, "auto_heal_pod", **heal)
                assert asked["error"]["code"] == "approval_required", asked
                heal["approval_id"] = asked["error"]["approval_id"]
                approvals.grant(heal["approval_id"], by="alice")
                await _killed_by(session, heal)
            assert process.returncode == -signal.SIGKILL, errlog.read_text()
            approval = approvals.get(heal["approval_id"])
            assert approval is not None and approval.status == "consumed"

            async with _server(_env(sim, state_dir, None), errlog) as (session, process):
                # Recovery found the write never happened: alice's approval holds again.
                approval = approvals.get(heal["approval_id"])
                assert approval is not None and approval.status == "granted"
                again = await _call(session, "auto_heal_pod", **heal)
                assert again["error"]["code"] == "write_failed" and again["error"]["replayed"]
                assert _pod_deletes(sim) == 0
                done = await _call(session, "auto_heal_pod", **{**heal, "idempotency_key": "k2"})
                assert done["success"] is True and done["approver"] == "alice", done
                assert done["action_id"] != again["error"]["action_id"]
                approval = approvals.get(heal["approval_id"])
                assert approval is not None and approval.status == "consumed"
            assert process.returncode == 0, errlog.read_text()

    anyio.run(main)

    assert _pod_deletes(sim) == 1
    rows = _rows(state_dir, "SELECT action_id, outcome FROM intents ORDER BY created_at")
    assert [row["outcome"] for row in rows] == ["not_applied", "applied"]
    assert _phases(audit) == Counter(
        {(str(row["action_id"]), phase): 1 for row in rows for phase in ("intent", "outcome")}
    )
    _trail_is_sound(audit, _env(sim, state_dir, None))
