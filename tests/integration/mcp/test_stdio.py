"""Smoke test: `kubemedic mcp` in a subprocess, spoken to over stdio by the SDK's client."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from kubesim import KubeSim

POD = """
apiVersion: v1
kind: Pod
metadata: {name: hello, namespace: default}
spec:
  containers:
  - name: app
    image: nginx:1.25
"""


def test_kubemedic_mcp_over_stdio(sim: KubeSim, tmp_path: Path) -> None:
    sim.apply(POD)
    sim.advance(10)
    kubemedic = Path(sys.executable).with_name("kubemedic")
    params = StdioServerParameters(
        command=str(kubemedic),
        args=["mcp"],
        env={
            **os.environ,
            "KUBEMEDIC_KUBECONFIG": str(sim.kubeconfig_path),
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
                names = sorted(tool.name for tool in (await session.list_tools()).tools)
                assert names == [
                    "analyze_logs",
                    "auto_heal_pod",
                    "check_resource_usage",
                    "diagnose_pod",
                    "get_action_status",
                    "get_rightsizing",
                    "list_unhealthy_pods",
                    "plan_healing",
                    "rollback_deployment",
                ]
                result = await session.call_tool(
                    "diagnose_pod", {"namespace": "default", "pod_name": "hello"}
                )
                assert result.structuredContent is not None
                assert result.structuredContent["success"] is True
                assert result.structuredContent["status"]["phase"] == "Running"
                bad = await session.call_tool(
                    "diagnose_pod", {"namespace": "Not_Valid", "pod_name": "hello"}
                )
                assert bad.structuredContent is not None
                assert bad.structuredContent["error"]["code"] == "invalid_input"

    anyio.run(main)


def test_kubemedic_mcp_serves_several_contexts(tmp_path: Path) -> None:
    """`kubemedic mcp --context kubesim-1 --context kubesim-2`: one server, a `cluster`
    argument on every tool, and a clear refusal for a cluster it does not serve."""
    from kubemedic.commands.sim import write_merged_kubeconfig

    with KubeSim() as first, KubeSim() as second:
        second.apply(POD)
        second.advance(10)
        merged = write_merged_kubeconfig(
            tmp_path / "kubeconfig", [first.kubeconfig_path, second.kubeconfig_path]
        )
        kubemedic = Path(sys.executable).with_name("kubemedic")
        params = StdioServerParameters(
            command=str(kubemedic),
            args=["mcp", "--context", "kubesim-1", "--context", "kubesim-2"],
            env={
                **os.environ,
                "KUBEMEDIC_KUBECONFIG": str(merged),
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
                    tools = {tool.name: tool for tool in (await session.list_tools()).tools}
                    assert "cluster" in tools["diagnose_pod"].inputSchema["properties"]
                    on_second = await session.call_tool(
                        "diagnose_pod",
                        {"namespace": "default", "pod_name": "hello", "cluster": "kubesim-2"},
                    )
                    on_first = await session.call_tool(
                        "diagnose_pod", {"namespace": "default", "pod_name": "hello"}
                    )
                    unknown = await session.call_tool(
                        "diagnose_pod",
                        {"namespace": "default", "pod_name": "hello", "cluster": "nowhere"},
                    )
                    assert on_second.structuredContent is not None
                    assert on_second.structuredContent["success"] is True
                    assert on_first.structuredContent is not None  # the first context: no pod
                    assert on_first.structuredContent["error"]["code"] == "not_found"
                    assert unknown.structuredContent is not None
                    assert unknown.structuredContent["error"]["known_clusters"] == [
                        "kubesim-1",
                        "kubesim-2",
                    ]

        anyio.run(main)
