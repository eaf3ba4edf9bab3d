"""Safety invariants of the controllers, over generated workloads (hypothesis)."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubesim.controllers.behaviour import container_behaviour
from kubesim.controllers.deployment import resolve_intstr
from kubesim.controllers.runtime import BACKOFF_MAX, ContainerRuntime
from kubesim.controllers.scheduler import pod_requests
from kubesim.store import NODES, PODS, Obj
from tests.unit.kubesim.harness import Cluster, deployment_manifest, pod_manifest

SLOW = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])

intstr = st.sampled_from([0, 1, 2, "25%", "50%"])


@SLOW
@given(
    replicas=st.integers(min_value=1, max_value=6),
    surge=intstr,
    unavailable=intstr,
    bad=st.booleans(),
)
def test_rolling_update_stays_within_surge_and_unavailability(
    replicas: int, surge: int | str, unavailable: int | str, bad: bool
) -> None:
    max_surge = resolve_intstr(surge, replicas, round_up=True)
    max_unavailable = resolve_intstr(unavailable, replicas, round_up=False)
    if max_surge == 0 and max_unavailable == 0:
        max_unavailable = 1  # the API server rejects both zero; the controller treats it so
        unavailable = 1
    cluster = Cluster()
    manifest = deployment_manifest("web", "nginx:1.25", replicas=replicas)
    manifest["spec"]["strategy"] = {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable},
    }
    cluster.create(manifest)
    cluster.advance(20)

    def set_image(d: Obj) -> None:
        d["spec"]["template"]["spec"]["containers"][0]["image"] = (
            "nginx:0.0.0-missing" if bad else "nginx:1.26"
        )

    cluster.update("Deployment", "web", set_image)
    for _ in range(40):
        cluster.advance(1)
        rss = cluster.replicasets("web-")
        assert sum(r["spec"]["replicas"] for r in rss) <= replicas + max_surge
        available = sum(r["status"].get("availableReplicas", 0) for r in rss)
        assert available >= replicas - max_unavailable
    d = cluster.deployment("web")
    if not bad:
        assert d["status"].get("updatedReplicas") == replicas
        assert d["status"].get("availableReplicas") == replicas
        assert sum(r["spec"]["replicas"] for r in cluster.replicasets("web-")) == replicas


@settings(max_examples=200, deadline=None)
@given(runs=st.lists(st.floats(min_value=0.0, max_value=900.0), min_size=1, max_size=12))
def test_crash_back_off_doubles_to_five_minutes_and_resets_after_long_runs(
    runs: list[float],
) -> None:
    c = ContainerRuntime(name="app", image="busybox")
    now = 0.0
    expected = 0.0  # the next delay the kubelet should impose
    for duration in runs:
        start = now
        finished = start + duration
        sync = finished + 1.0
        if c.backoff_updated is not None and sync - c.backoff_updated > 2 * BACKOFF_MAX:
            expected = 0.0  # the back-off entry expired: restart at once
        until = c.in_backoff_until(finished, sync)
        delay = 0.0 if until is None else until - finished
        assert math.isclose(delay, expected)
        restart = sync if until is None else until
        c.next_backoff(restart)
        assert 10.0 <= c.backoff <= BACKOFF_MAX
        expected = c.backoff
        now = restart


statements = st.lists(
    st.one_of(
        st.builds(lambda w: ("echo", w), st.from_regex(r"[a-z]{1,8}", fullmatch=True)),
        st.builds(lambda n: ("sleep", n), st.integers(min_value=1, max_value=30)),
    ),
    max_size=8,
)


@settings(max_examples=100, deadline=None)
@given(body=statements, code=st.integers(min_value=0, max_value=255))
def test_shell_model_times_lines_and_exit_code(body: list[tuple[str, object]], code: int) -> None:
    script = "; ".join(f"{cmd} {arg}" for cmd, arg in body) + f"; exit {code}"
    b = container_behaviour(
        {"metadata": {}}, {"name": "c", "image": "busybox", "command": ["sh", "-c", script]}
    )
    clock, lines = 0.0, []
    for cmd, arg in body:
        if cmd == "echo":
            lines.append((clock, str(arg)))
        else:
            clock += float(arg)  # type: ignore[arg-type]
    assert b.runs_for == clock and b.exit_code == code
    assert list(b.lines_between(-1.0, clock)) == lines


@SLOW
@given(
    requests=st.lists(
        st.tuples(
            st.integers(min_value=100, max_value=3000), st.integers(min_value=64, max_value=4096)
        ),
        min_size=1,
        max_size=12,
    )
)
def test_scheduler_never_overcommits_and_explains_every_pending_pod(
    requests: list[tuple[int, int]],
) -> None:
    cluster = Cluster()
    for i, (cpu, mem) in enumerate(requests):
        container = {
            "name": "app",
            "image": "nginx:1.25",
            "resources": {"requests": {"cpu": f"{cpu}m", "memory": f"{mem}Mi"}},
        }
        cluster.create(pod_manifest(f"p{i}", container), settle=False)
    cluster.advance(2)
    nodes = {n["metadata"]["name"]: n for n in cluster.store.list(NODES)}
    used: dict[str, list[float]] = {name: [0.0, 0.0] for name in nodes}
    for pod in cluster.store.list(PODS):
        node = pod["spec"].get("nodeName")
        if node:
            cpu_request, mem_request = pod_requests(pod)
            used[node][0] += cpu_request
            used[node][1] += mem_request
        else:
            # One event per distinct message: the reasons change as other pods get bound.
            events = cluster.events(pod["metadata"]["name"], "FailedScheduling")
            assert events
            assert all(e["message"].startswith("0/2 nodes are available: ") for e in events)
            scheduled = next(c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled")
            assert scheduled["message"] in [e["message"] for e in events]
            assert pod["status"]["phase"] == "Pending"
    for name, (cpu_used, mem_used) in used.items():
        assert cpu_used <= 4000 and mem_used <= 8 * 2**30, name
