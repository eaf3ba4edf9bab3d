"""The pod cache at size, and how fast a failing pod becomes an incident.

kubesim runs in its own process (`benchmarks.cluster_process`) with realistic pods in 50
namespaces; each measurement runs in a fresh process of its own, so memory figures are not
left over from another.

- **Cold sync**: a new PodCache's list (pages of 500, compacted and classified) at 10,000
  pods, against the floor measured in the same process and run: one raw GET of every pod and
  `json.loads` (as Python runs it by default, and with the cyclic GC paused as the cache
  pauses it while it lists). Medians of a few rounds, alternating. Goal: <= 1.5x the floor.
- **Server RSS** with 10,000 and 50,000 pods cached (the process after the first sync, with
  the MCP server's modules imported). Goal: < 600 MiB at 50,000.
- **Detection latency**: a pod's status turns ErrImagePull in kubesim -> the pod cache's watch
  -> `notifications/resources/updated` -> the watch loop (poll interval 300 s) -> incident
  opened. From the status write to the `opened` event, p50 / p95 over 20 pods, with 10,000
  pods cached. Goal: p95 <= 1 s.
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

NAMESPACES = 50
SYNC_PODS = 10_000
BIG_PODS = 50_000
ROUNDS = 3
DETECTIONS = 20


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Cluster:
    """`benchmarks.cluster_process` as a child process."""

    def __init__(self, pods: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.cluster_process", str(pods), str(NAMESPACES)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        line = self._stdout.readline().split()
        if not line or line[0] != "ready":
            raise RuntimeError(f"the cluster process did not start: {line}")
        self.kubeconfig = line[1]

    @property
    def _stdout(self) -> IO[str]:
        assert self.proc.stdout is not None
        return self.proc.stdout

    def fail(self, namespace: str, name: str) -> float:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"fail {namespace} {name}\n")
        self.proc.stdin.flush()
        words = self._stdout.readline().split()
        return float(words[1])

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _measure(mode: str, kubeconfig: str) -> dict[str, Any]:
    """Run this module's `--measure` in a fresh process; its JSON answer."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.pod_cache_bench", "--measure", mode, kubeconfig],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    answer: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return answer


def _cache(gateway: Any) -> Any:
    from mcp_server.pod_cache import PodCache
    from mcp_server.pod_diagnosis import classify_pod, pod_health_score

    return PodCache(gateway, classify=classify_pod, score=pod_health_score)


def _sync(gateway: Any) -> tuple[float, Any]:
    cache = _cache(gateway)
    started = time.perf_counter()
    cache.start()
    if not cache.wait_synced(600):
        raise RuntimeError("the pod cache did not sync")
    seconds = time.perf_counter() - started
    cache.stop()
    return seconds, cache


def _floor(gateway: Any, *, pause_gc: bool) -> float:
    core = gateway._core  # the raw client call the floor is made of
    paused = pause_gc and gc.isenabled()
    if paused:
        gc.disable()
    try:
        started = time.perf_counter()
        response = core.list_pod_for_all_namespaces(_preload_content=False, _request_timeout=600)
        data = json.loads(response.data)
        seconds = time.perf_counter() - started
    finally:
        if paused:
            gc.enable()
    del data
    gc.collect()
    return seconds


def measure(mode: str, kubeconfig: str) -> dict[str, Any]:
    import mcp_server.server  # noqa: F401 - the server's modules, as a server has them
    from mcp_server.gateway import Gateway

    gateway = Gateway.from_kubeconfig(kubeconfig)
    if mode == "rss":
        before = _rss_mib()
        seconds, cache = _sync(gateway)
        gc.collect()
        return {
            "pods": cache.count(),
            "rss_before": before,
            "rss": _rss_mib(),
            "first_sync": seconds,
            "pages": cache.pages,
        }
    _floor(gateway, pause_gc=False)  # warm: the connection, and kubesim's serialised items
    floors, floors_nogc, syncs = [], [], []
    for _ in range(ROUNDS):
        floors.append(_floor(gateway, pause_gc=False))
        syncs.append(_sync(gateway)[0])
        floors_nogc.append(_floor(gateway, pause_gc=True))
    return {
        "floor": statistics.median(floors),
        "floor_nogc": statistics.median(floors_nogc),
        "sync": statistics.median(syncs),
        "syncs": syncs,
        "floors": floors,
    }


# ------------------------------------------------------------------------------ detection


def detection(cluster: Cluster) -> list[float]:
    from mcp.shared.memory import create_connected_server_and_client_session

    from agent.watch import WatchEvent, WatchSettings, run_watch
    from benchmarks.cluster_process import namespace_name, pod_name
    from mcp_server.config import ServerConfig
    from mcp_server.gateway import Gateway
    from mcp_server.server import create_server
    from mcp_server.state import ServerState
    from policies import load_policy

    latencies: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        config = ServerConfig(
            kubeconfig=Path(cluster.kubeconfig),
            state_dir=Path(folder) / "server",
            local_caller="kubemedic-agent",
            pod_cache=True,
        )
        state = ServerState(
            config, Gateway.from_kubeconfig(cluster.kubeconfig), policy=load_policy(None)
        )
        settings = WatchSettings(
            state_dir=Path(folder) / "agent",
            policy=state.policy,
            poll_interval_seconds=300,  # a poll cannot explain any figure below
            shutdown_grace_seconds=1,
        )

        async def run() -> None:
            opened: dict[str, float] = {}
            arrived = asyncio.Event()
            polled = asyncio.Event()

            def on_event(event: WatchEvent) -> None:
                if event.kind == "poll":
                    polled.set()
                if event.kind == "opened" and event.workload:
                    opened[event.workload] = time.time()
                    arrived.set()

            stop = asyncio.Event()
            async with create_connected_server_and_client_session(create_server(state)) as s:
                assert state.cache is not None
                await asyncio.to_thread(state.cache.wait_synced, 600)
                loop = asyncio.create_task(run_watch(s, settings, on_event=on_event, stop=stop))
                await asyncio.wait_for(polled.wait(), 120)
                for i in range(DETECTIONS):
                    namespace = namespace_name(i)
                    workload = f"{namespace}/Deployment/web"
                    arrived.clear()
                    at = await asyncio.to_thread(cluster.fail, namespace, pod_name(i, 0))
                    while workload not in opened:
                        await asyncio.wait_for(arrived.wait(), 60)
                        arrived.clear()
                    latencies.append(opened[workload] - at)
                stop.set()
                await loop

        try:
            asyncio.run(run())
        finally:
            state.close()
    return latencies


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main() -> int:
    cluster = Cluster(SYNC_PODS)
    try:
        timing = _measure("sync", cluster.kubeconfig)
        rss10 = _measure("rss", cluster.kubeconfig)
        latencies = detection(cluster)
    finally:
        cluster.close()
    cluster = Cluster(BIG_PODS)
    try:
        rss50 = _measure("rss", cluster.kubeconfig)
    finally:
        cluster.close()

    ratio = timing["sync"] / timing["floor"]
    print(f"pod cache, kubesim with {SYNC_PODS:,} pods in {NAMESPACES} namespaces")
    print(
        f"  cold sync (pages of 500, compact, classified): {timing['sync']:.2f} s "
        f"(median of {ROUNDS}: {', '.join(f'{s:.2f}' for s in timing['syncs'])})"
    )
    print(
        f"  floor, one GET + json.loads:                   {timing['floor']:.2f} s "
        f"-> sync / floor = {ratio:.2f}x (goal <= 1.5x)"
    )
    print(
        f"  floor, one GET + json.loads with GC paused:    {timing['floor_nogc']:.2f} s "
        f"-> sync / floor = {timing['sync'] / timing['floor_nogc']:.2f}x"
    )
    for label, rss in ((f"{SYNC_PODS:,}", rss10), (f"{BIG_PODS:,}", rss50)):
        print(
            f"  server RSS with {label} pods cached: {rss['rss']:.0f} MiB "
            f"({rss['rss_before']:.0f} MiB before the first sync; first sync "
            f"{rss['first_sync']:.1f} s, {rss['pages']} pages)"
        )
    print("  goal: < 600 MiB at 50,000 pods")
    p50, p95 = _percentile(latencies, 0.5), _percentile(latencies, 0.95)
    print(
        f"  detection (status -> incident opened, poll interval 300 s, {len(latencies)} pods): "
        f"p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms "
        "(goal p95 <= 1 s)"
    )
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--measure":
        print(json.dumps(measure(sys.argv[2], sys.argv[3])))
        raise SystemExit(0)
    raise SystemExit(main())
