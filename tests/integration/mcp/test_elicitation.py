"""Approvals through MCP elicitation, over streamable HTTP with bearer tokens, against kubesim.

Where the policy lists the action in `approval_elicitation`, a heal-token client that declared
the elicitation capability is asked in the tool call: accepting executes the same plan with the
approver "<token> via elicitation"; declining rejects the record and writes nothing. Clients
without the capability, failing hosts, the local caller and a policy without the action all get
the usual `approval_required`.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import uvicorn
from mcp import ClientSession, types
from mcp.client.session import ElicitationFnT
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.context import RequestContext
from mcp.shared.memory import create_connected_server_and_client_session
from pydantic import SecretStr

from kubesim import KubeSim
from mcp_server.config import TokenConfig
from mcp_server.gateway import Gateway
from mcp_server.http_app import create_http_app
from mcp_server.preview import parse_preview, preview_lines
from mcp_server.server import create_server
from mcp_server.state import ServerState
from policies import Action, Policy, load_policy
from tests.integration.manifests import CRASHER, SHOP
from tests.integration.mcp.conftest import call, make_state, pods, wait_for, writes
from tests.integration.mcp.test_failures import _crasher, _looping

HEAL_TOKEN = "heal-token-0123456789abcdef"
ASKING = load_policy().updated(approval_elicitation=[Action.DELETE_POD.value])

Body = Callable[[ClientSession], Awaitable[None]]


class Host:
    """An MCP host's user: answers every elicitation the same way and keeps the questions."""

    def __init__(self, answer: types.ElicitResult | types.ErrorData) -> None:
        self.answer = answer
        self.messages: list[str] = []

    async def __call__(
        self, context: RequestContext[ClientSession, Any], params: types.ElicitRequestParams
    ) -> types.ElicitResult | types.ErrorData:
        self.messages.append(params.message)
        return self.answer


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def looping(sim: KubeSim) -> str:
    sim.apply(CRASHER)
    wait_for(sim, lambda: _looping(sim))
    return str(_crasher(sim)["metadata"]["name"])


@contextmanager
def served(sim: KubeSim, tmp_path: Path, policy: Policy) -> Iterator[tuple[str, ServerState]]:
    state = make_state(sim, tmp_path / "state", policy=policy, pod_cache=False)
    state.config.tokens = (
        TokenConfig(
            caller="ops-bot", token=SecretStr(HEAL_TOKEN), scopes=frozenset({"read", "heal"})
        ),
    )
    port = _free_port()
    app = create_http_app(state, port=port)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the HTTP server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", state
    finally:
        server.should_exit = True
        thread.join(10)
        state.close()


def over_http(url: str, body: Body, host: ElicitationFnT | None = None) -> None:
    """One client session with the heal token; `host` set: it declares elicitation."""

    async def main() -> None:
        with anyio.fail_after(60):
            headers = {"Authorization": f"Bearer {HEAL_TOKEN}"}
            async with (
                httpx.AsyncClient(headers=headers, timeout=30) as http,
                streamable_http_client(f"{url}/mcp", http_client=http) as (read, write, _),
                ClientSession(read, write, elicitation_callback=host) as session,
            ):
                await session.initialize()
                await body(session)

    anyio.run(main)


def _pod_deletes(sim: KubeSim) -> list[Any]:
    return [r for r in writes(sim) if r.verb == "delete" and r.resource == "pods"]


def test_an_accepted_elicitation_grants_and_executes_the_plan(
    sim: KubeSim, tmp_path: Path, looping: str
) -> None:
    old_uid = str(_crasher(sim)["metadata"]["uid"])
    host = Host(types.ElicitResult(action="accept", content={"approve": True, "reason": "ok"}))
    answers: dict[str, Any] = {}

    async def body(session: ClientSession) -> None:
        diagnosis = await call(session, "diagnose_pod", namespace="default", pod_name=looping)
        # The original arguments: the server plans, asks, and executes that same plan.
        answers["heal"] = await call(
            session, "auto_heal_pod", namespace="default", pod_name=looping, diagnosis=diagnosis
        )

    with served(sim, tmp_path, ASKING) as (url, state):
        sim.reset_requests()
        over_http(url, body, host)
        healed = answers["heal"]
        assert healed["success"] is True, healed
        assert healed["action_taken"] == "delete_pod"
        assert healed["approver"] == "ops-bot via elicitation"
        (approval,) = state.approvals.list()
        assert approval.id == healed["approval_id"]
        assert approval.status == "consumed"
        assert approval.decided_by == "ops-bot via elicitation"
        records = state.audit.records()
    (question,) = host.messages
    assert "delete_pod" in question and f"Pod/default/{looping}" in question
    assert healed["plan_id"] in question
    preview = parse_preview(approval.details.get("preview"))
    if preview is not None:  # the server's preview of the change, as text
        assert all(line in question for line in preview_lines(preview))
    # The cluster: the pod was deleted once, with its uid as precondition, and replaced.
    assert len(_pod_deletes(sim)) == 1
    wait_for(sim, lambda: old_uid not in {p["metadata"]["uid"] for p in pods(sim)})
    assert _crasher(sim)["metadata"]["uid"] != old_uid
    # The trail: asked (refused, approval_required), then the intent and outcome it approved.
    asked, intent, outcome = (r for r in records if r["action"] == "delete_pod")
    assert asked["result"] == "refused" and asked["error"]["code"] == "approval_required"
    assert intent["phase"] == "intent" and outcome["phase"] == "outcome"
    assert outcome["result"] == "applied"
    assert intent["approver"] == outcome["approver"] == "ops-bot via elicitation"
    assert intent["initiator"] == "ops-bot"


def test_an_accepted_elicitation_rolls_a_deployment_back(sim: KubeSim, tmp_path: Path) -> None:
    bad = SHOP.replace("nginx:1.25", "nginx:1.25-does-not-exist")
    sim.apply(SHOP)
    sim.advance(30)

    def pulling() -> bool:
        return any(
            ((s.get("state") or {}).get("waiting") or {}).get("reason") == "ImagePullBackOff"
            for p in pods(sim)
            if p["metadata"]["name"].startswith("shop-")
            for s in (p.get("status") or {}).get("containerStatuses") or []
        )

    sim.apply(bad)
    wait_for(sim, pulling)
    host = Host(types.ElicitResult(action="accept", content={"approve": True}))
    answers: dict[str, Any] = {}

    async def body(session: ClientSession) -> None:
        answers["rollback"] = await call(
            session, "rollback_deployment", namespace="default", deployment_name="shop"
        )

    asking = load_policy().updated(approval_elicitation=[Action.ROLLBACK_DEPLOYMENT.value])
    with served(sim, tmp_path, asking) as (url, state):
        over_http(url, body, host)
        (approval,) = state.approvals.list()
    done = answers["rollback"]
    assert done["success"] is True, done
    assert done["approver"] == "ops-bot via elicitation" and done["to_revision"] == 1
    assert approval.status == "consumed"
    (question,) = host.messages
    assert "rollback_deployment" in question and "Deployment/default/shop" in question
    gw = Gateway.from_kubeconfig(sim.kubeconfig_path)
    try:
        deployment = gw.get_deployment("default", "shop")
    finally:
        gw.close()
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"


@pytest.mark.parametrize(
    ("answer", "note"),
    [
        (types.ElicitResult(action="decline"), "declined via elicitation"),
        (
            types.ElicitResult(action="accept", content={"approve": False, "reason": "not now"}),
            "rejected via elicitation: not now",
        ),
    ],
    ids=["decline", "accept-false"],
)
def test_a_declined_elicitation_rejects_and_writes_nothing(
    sim: KubeSim, tmp_path: Path, looping: str, answer: types.ElicitResult, note: str
) -> None:
    host = Host(answer)
    before = {p["metadata"]["uid"] for p in pods(sim)}
    answers: dict[str, Any] = {}

    async def body(session: ClientSession) -> None:
        plan = await call(session, "plan_healing", namespace="default", pod_name=looping)
        answers["plan"] = plan
        answers["heal"] = await call(
            session, "auto_heal_pod", namespace="default", pod_name=looping, plan_id=plan["plan_id"]
        )

    with served(sim, tmp_path, ASKING) as (url, state):
        sim.reset_requests()
        over_http(url, body, host)
        refused = answers["heal"]
        (approval,) = state.approvals.list()
        records = state.audit.records()
    assert refused["success"] is False
    error = refused["error"]
    assert error["code"] == "approval_not_granted" and error["status"] == "rejected", error
    assert error["approval_id"] == approval.id and error["plan_id"] == answers["plan"]["plan_id"]
    assert error["decided_by"] == "ops-bot via elicitation"
    assert approval.status == "rejected" and approval.decided_by == "ops-bot via elicitation"
    assert approval.note == note
    assert len(host.messages) == 1
    assert not writes(sim)
    assert {p["metadata"]["uid"] for p in pods(sim)} == before
    assert not [r for r in records if r.get("phase") == "intent"]
    last = records[-1]
    assert last["result"] == "refused" and last["error"]["code"] == "approval_not_granted"
    assert last["details"]["decided_by"] == "ops-bot via elicitation"


class Late(Host):
    """A host whose user answers only after the server gave up waiting (this SDK's client
    handles a server request inline, so the tool's answer arrives after the callback's)."""

    def __init__(self, answer: types.ElicitResult) -> None:
        super().__init__(answer)
        self.server_gave_up = threading.Event()

    async def __call__(
        self, context: RequestContext[ClientSession, Any], params: types.ElicitRequestParams
    ) -> types.ElicitResult | types.ErrorData:
        self.messages.append(params.message)
        assert await anyio.to_thread.run_sync(self.server_gave_up.wait, 30)
        return self.answer


class _GaveUp(logging.Handler):
    def __init__(self, late: Late) -> None:
        super().__init__()
        self.late = late

    def emit(self, record: logging.LogRecord) -> None:
        if "no answer through elicitation in time" in record.getMessage():
            self.late.server_gave_up.set()


def test_hosts_that_cannot_answer_get_approval_required(
    sim: KubeSim, tmp_path: Path, looping: str
) -> None:
    failing = Host(types.ErrorData(code=types.INVALID_REQUEST, message="no user here"))
    late = Late(types.ElicitResult(action="accept", content={"approve": True}))
    watcher = _GaveUp(late)
    seen: list[dict[str, Any]] = []

    async def body(session: ClientSession) -> None:
        seen.append(
            await call(
                session,
                "auto_heal_pod",
                namespace="default",
                pod_name=looping,
                diagnosis={"pod_name": looping},
            )
        )

    impatient = ASKING.updated(approval_elicitation_timeout_seconds=1)
    with served(sim, tmp_path, impatient) as (url, state):
        sim.reset_requests()
        over_http(url, body)  # no elicitation capability declared
        over_http(url, body, failing)  # declared, but the host fails the request
        logging.getLogger("mcp_server.elicitation").addHandler(watcher)
        try:
            over_http(url, body, late)  # declared, but the answer comes too late
        finally:
            logging.getLogger("mcp_server.elicitation").removeHandler(watcher)
        approvals = state.approvals.list()
    assert [answer["error"]["code"] for answer in seen] == ["approval_required"] * 3
    assert len(failing.messages) == 1 and len(late.messages) == 1
    # The same pending record every time (a late "approve" grants nothing): it waits for an
    # out-of-band decision.
    assert [a.status for a in approvals] == ["pending"]
    assert {answer["error"]["approval_id"] for answer in seen} == {approvals[0].id}
    assert not writes(sim)


def test_a_policy_without_the_action_never_asks(sim: KubeSim, tmp_path: Path, looping: str) -> None:
    host = Host(types.ElicitResult(action="accept", content={"approve": True}))
    rollbacks_only = load_policy().updated(approval_elicitation=[Action.ROLLBACK_DEPLOYMENT.value])
    seen: list[dict[str, Any]] = []

    async def body(session: ClientSession) -> None:
        plan = await call(session, "plan_healing", namespace="default", pod_name=looping)
        seen.append(
            await call(
                session,
                "auto_heal_pod",
                namespace="default",
                pod_name=looping,
                plan_id=plan["plan_id"],
            )
        )

    with served(sim, tmp_path, rollbacks_only) as (url, state):
        sim.reset_requests()
        over_http(url, body, host)
        (approval,) = state.approvals.list()
    assert seen[0]["error"]["code"] == "approval_required"
    assert host.messages == []
    assert approval.status == "pending"
    assert not writes(sim)


def test_the_local_caller_is_never_asked(sim: KubeSim, tmp_path: Path, looping: str) -> None:
    """In-process (and stdio) clients are kubemedic's own agent: it must not approve itself."""
    host = Host(types.ElicitResult(action="accept", content={"approve": True}))
    state = make_state(sim, tmp_path / "state", policy=ASKING, pod_cache=False)
    seen: list[dict[str, Any]] = []

    async def main() -> None:
        with anyio.fail_after(60):
            async with create_connected_server_and_client_session(
                create_server(state), elicitation_callback=host
            ) as session:
                plan = await call(session, "plan_healing", namespace="default", pod_name=looping)
                seen.append(
                    await call(
                        session,
                        "auto_heal_pod",
                        namespace="default",
                        pod_name=looping,
                        plan_id=plan["plan_id"],
                    )
                )

    sim.reset_requests()
    try:
        anyio.run(main)
        (approval,) = state.approvals.list()
    finally:
        state.close()
    assert seen[0]["error"]["code"] == "approval_required"
    assert host.messages == []
    assert approval.status == "pending"
    assert not writes(sim)
