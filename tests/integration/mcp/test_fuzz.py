"""Fuzzed tool arguments (hypothesis): always a structured result, never a traceback or write."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import ClientSession
from mcp.shared.memory import create_connected_server_and_client_session

from kubesim import KubeSim
from mcp_server.gateway import Gateway
from mcp_server.server import create_server
from mcp_server.state import ServerState
from tests.integration.manifests import CRASHER
from tests.integration.mcp.conftest import make_state, wait_for, writes

CODES = {
    "invalid_input",
    "not_found",
    "forbidden",
    "approval_required",
    "approval_not_found",
    "approval_not_granted",
    "approval_expired",
    "approval_mismatch",
    "approval_used",
    "vetoed",
    "rate_limited",
    "diagnosis_mismatch",
    "protected_namespace",
    "not_managed",
    "action_not_appropriate",
    "blast_radius",
    "safety_check_failed",
    "api_error",
    "not_ready",
    "unsupported",
}

TOOLS = {
    "diagnose_pod": ("namespace", "pod_name", "check_logs", "check_events"),
    "analyze_logs": ("namespace", "pod_name", "container", "tail_lines", "since_seconds"),
    "check_resource_usage": ("namespace", "pod_name"),
    "auto_heal_pod": (
        "namespace",
        "pod_name",
        "diagnosis",
        "dry_run",
        "force",
        "action",
        "approval_id",
    ),
    "rollback_deployment": (
        "namespace",
        "deployment_name",
        "revision",
        "approval_id",
        "dry_run",
        "force",
    ),
    "list_unhealthy_pods": ("namespace",),
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KubeSim, str]]:
    with KubeSim() as sim:
        sim.apply(CRASHER)
        gw = Gateway.from_kubeconfig(sim.kubeconfig_path)

        def looping() -> bool:
            pods = gw.list_pods("default").items
            return bool(pods) and all(
                (p["status"].get("containerStatuses") or [{}])[0].get("restartCount", 0) > 3
                for p in pods
            )

        wait_for(sim, looping)
        name = gw.list_pods("default").items[0]["metadata"]["name"]
        gw.close()
        yield sim, name


@pytest.fixture(scope="module")
def session(
    world: tuple[KubeSim, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[BlockingPortal, ClientSession, ServerState]]:
    sim, _ = world
    state = make_state(sim, Path(tmp_path_factory.mktemp("fuzz")), pod_cache=False)
    with start_blocking_portal() as portal:
        manager = create_connected_server_and_client_session(create_server(state))
        with portal.wrap_async_context_manager(manager) as client:
            yield portal, client, state
    state.close()


def _values(pod: str) -> st.SearchStrategy[Any]:
    names = st.sampled_from(
        ["default", "kube-system", pod, "crasher", "app", "x" * 64, "Default", "a_b", "", "-a"]
    )
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False),
        st.text(max_size=80),
        names,
    )
    issues = st.lists(
        st.fixed_dictionaries(
            {"type": st.sampled_from(["CrashLoopBackOff", "OOMKilled", "ImagePullBackOff", "x"])},
            optional={"restart_count": st.integers(), "severity": st.text(max_size=10)},
        ),
        max_size=3,
    )
    return st.one_of(
        scalars,
        st.lists(scalars, max_size=3),
        st.dictionaries(st.text(max_size=10), scalars, max_size=3),
        st.fixed_dictionaries({"namespace": names, "pod_name": names, "issues": issues}),
    )


@st.composite
def calls(draw: st.DrawFn, pod: str) -> tuple[str, dict[str, Any]]:
    tool = draw(st.sampled_from(sorted(TOOLS)))
    arguments: dict[str, Any] = {}
    for name in TOOLS[tool]:
        if draw(st.booleans()):
            arguments[name] = draw(_values(pod))
    if draw(st.integers(0, 9)) == 0:
        arguments[draw(st.text(min_size=1, max_size=12))] = draw(_values(pod))
    return tool, arguments


def test_fuzzed_arguments_never_crash_or_write(
    world: tuple[KubeSim, str], session: tuple[BlockingPortal, ClientSession, ServerState]
) -> None:
    sim, pod = world
    portal, client, state = session
    sim.reset_requests()

    @settings(
        max_examples=75,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(calls(pod))
    def check(call: tuple[str, dict[str, Any]]) -> None:
        tool, arguments = call
        result = portal.call(client.call_tool, tool, arguments)
        data = result.structuredContent
        assert data is not None and isinstance(data.get("success"), bool)
        # A refusal is an MCP error that keeps its structured payload.
        assert result.isError is (not data["success"]), (tool, arguments, result.content)
        if not data["success"]:
            assert data["error"]["code"] in CODES, data["error"]
            assert "Traceback" not in data["error"]["message"]
        assert not writes(sim), (tool, arguments)

    check()
    internal = [
        r for r in state.audit.records() if (r["error"] or {}).get("code") == "internal_error"
    ]
    assert internal == []
