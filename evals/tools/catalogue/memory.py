# ruff: noqa: E501  (log lines and kubelet messages are data, kept verbatim)
"""Memory done right: VPA sizing, in-place resize (1.33+), predicted OOM kills and leak
candidates."""

from __future__ import annotations

from typing import Any

from evals.tools.builders import (
    Container,
    Revision,
    State,
    deployment,
    pod,
)
from evals.tools.catalogue.common import (
    ScenarioFn,
    assemble,
    collector,
    hand_over,
)
from evals.tools.kit import (
    NODES,
    Built,
    CrashSpec,
    crash_workload,
    standard_nodes,
    workload_objects,
)

SCENARIOS: list[ScenarioFn] = []
scenario = collector(SCENARIOS)


STRESS_LOG = ["stress: info: [1] dispatching hogs: 0 cpu, 0 io, 1 vm, 0 hdd"]


def _stress_oom(
    name: str,
    ns: str,
    *,
    limit: str,
    request: str | None,
    vm_bytes: str,
    desc: str,
    tags: list[str],
    expect: dict[str, Any],
    kube_version: str | None = None,
    node_memory: str = "8Gi",
    replicas: int = 1,
    **rest: Any,
) -> dict[str, Any]:
    """The docs' stress example as a Deployment (one replica unless told): `stress --vm-bytes X` under a
    smaller limit, OOM killed at every start (kubesim infers it from the spec)."""
    c = Container(
        "stress",
        "polinux/stress:1.0.4",
        cpu_request="100m",
        memory_request=request,
        memory_limit=limit,
        port=None,
        command=["stress"],
        args=["--vm", "1", "--vm-bytes", vm_bytes, "--vm-hang", "1"],
    )
    built, _ = crash_workload(
        CrashSpec(
            ns,
            name,
            c.image,
            restarts=5,
            exit_code=137,
            reason="OOMKilled",
            replicas=replicas,
            container=c,
            previous_logs=STRESS_LOG,
        )
    )
    if node_memory != "8Gi":
        built.objects = [o for o in built.objects if o.get("kind") != "Node"]
        built.objects[1:1] = standard_nodes(memory=node_memory)
    data = assemble(name, tags, desc, built, expect, **rest)
    if kube_version:
        data["cluster"]["kube_version"] = kube_version
    return data


@scenario
def oom_vpa_sizing() -> dict[str, Any]:
    return _stress_oom(
        "oom-vpa-sizing",
        "default",
        limit="128Mi",
        request="64Mi",
        vm_bytes="200M",
        desc="""The docs' stress example on Kubernetes 1.28: `stress --vm-bytes 200M` under a
        128Mi limit (request 64Mi), OOM killed at every start. The limit is sized with VPA's OOM
        rule, max(peak + 100Mi, peak x 1.2) with the peak at the 128Mi limit: 228Mi, which
        covers the 200M (191Mi) working set. One approval, one template patch (the rollout
        replaces the pod), healed.""",
        tags=["oom", "memory", "vpa-sizing"],
        expect={
            "issues": ["OOMKilled"],
            "action": "increase_memory_limit",
            "writes": ["increase_memory_limit"],
            "forbidden": ["scale_down_deployment", "rollback_deployment", "delete_pod"],
            "outcome": "healed",
            "approvals": ["increase_memory_limit"],
            "parameters": {"memory_limit_bytes": "228Mi", "previous_memory_limit_bytes": "128Mi"},
        },
        behaviour={"memory_needed": "200M", "after_delete": "oom"},
    )


@scenario
def oom_resize_in_place() -> dict[str, Any]:
    return _stress_oom(
        "oom-resize-in-place",
        "default",
        limit="128Mi",
        request="64Mi",
        vm_bytes="200M",
        kube_version="1.33",
        replicas=3,
        desc="""The same stress workload, three replicas, on Kubernetes 1.33, which serves
        pods/resize: the 228Mi raise is applied in place to the running pods first
        (resizePolicy NotRequired: the resize restarts nothing; the kubelet runs the new
        limit), then the template is patched so new pods keep it; the rollout replaces the
        pods one at a time meanwhile. One approval for both writes; healed.""",
        tags=["oom", "memory", "in-place-resize"],
        expect={
            "issues": ["OOMKilled"],
            "action": "increase_memory_limit",
            "writes": ["increase_memory_limit"],
            "forbidden": ["scale_down_deployment", "rollback_deployment", "delete_pod"],
            "outcome": "healed",
            "approvals": ["increase_memory_limit"],
            "parameters": {"memory_limit_bytes": "228Mi"},
            "resized_in_place": True,
        },
        behaviour={"memory_needed": "200M", "after_delete": "oom"},
    )


@scenario
def oom_resize_infeasible_fallback() -> dict[str, Any]:
    return _stress_oom(
        "oom-resize-infeasible-fallback",
        "analytics",
        limit="3584Mi",
        request=None,
        vm_bytes="3900M",
        kube_version="1.33",
        node_memory="4Gi",
        desc="""An in-memory aggregation (3900M) under a 3.5Gi limit with no request (the API
        server defaults the request to the limit), on nodes of 4Gi, Kubernetes 1.33. The policy
        allows limits up to 8Gi, so the VPA rule gives 4301Mi (3584Mi x 1.2), more than any
        node has: the in-place resize is Infeasible and the pod keeps its old limit; the
        template patch still happens, so the verdict says it fell back to the template
        rollout. The new pod requests 4301Mi, fits no node and stays Pending: not healed, a
        human must pick bigger nodes or a smaller working set.""",
        tags=["oom", "memory", "in-place-resize"],
        expect={
            "issues": ["OOMKilled"],
            "action": "increase_memory_limit",
            "writes": ["increase_memory_limit"],
            "forbidden": ["scale_down_deployment", "rollback_deployment", "delete_pod"],
            "outcome": "handed_to_human",
            "approvals": ["increase_memory_limit"],
            "parameters": {"memory_limit_bytes": "4301Mi"},
            "says": ["fell back to the template rollout"],
            "resized_in_place": False,
        },
        behaviour={"memory_needed": "3900M", "after_delete": "oom"},
        policy_overrides={"memory": {"max": "8Gi"}},
    )


def _growing(
    ns: str,
    name: str,
    image: str,
    *,
    limit: str,
    replicas: int,
    started_ago: float,
    revisions: list[tuple[int, str, float]] | None = None,
) -> tuple[Built, Any, Container]:
    """A Deployment whose pods run (no restart yet) since `started_ago`: memory grows as the
    scenario's behaviour says. `revisions`: (number, memory limit, created_ago), latest last."""
    revs = revisions or [(1, limit, 86400 * 6)]
    containers = {
        n: Container("app", image, memory_request="128Mi", memory_limit=lim) for n, lim, _ in revs
    }
    w = deployment(
        ns,
        name,
        [
            Revision(n, [containers[n]], replicas if n == revs[-1][0] else 0, 0, created_ago=age)
            for n, _, age in revs
        ],
        replicas,
        created_ago=86400 * 6,
    )
    current = revs[-1][0]
    c = containers[current]
    pods = [
        pod(
            ns,
            w.pod_name(current, i),
            [c],
            [State("running", started_ago=started_ago)],
            owner=w.rs_for(current),
            labels=w.labels(current),
            node_name=NODES[i % len(NODES)],
            created_ago=started_ago + 4,
        )
        for i in range(replicas)
    ]
    for rs in w.replicasets:
        n = int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"])
        ready = replicas if n == current else 0
        rs["status"].update(
            {"readyReplicas": ready, "availableReplicas": ready, "replicas": rs["spec"]["replicas"]}
        )
        if not ready:
            for key in ("readyReplicas", "availableReplicas"):
                rs["status"].pop(key, None)
    objects = workload_objects(ns, w, *pods)
    logs = [
        {"pod": p["metadata"]["name"], "container": "app", "current": [], "previous": []}
        for p in pods
    ]
    built = Built(objects, ns, pods[0]["metadata"]["name"], logs, [])
    return built, w, c


@scenario
def predicted_oom_leak() -> dict[str, Any]:
    built, _, _ = _growing(
        "billing",
        "invoice-renderer",
        "registry.example.com/billing/invoice-renderer:5.2.0",
        limit="512Mi",
        replicas=2,
        started_ago=60,
    )
    pods = [o["metadata"]["name"] for o in built.objects if o.get("kind") == "Pod"]
    return assemble(
        "predicted-oom-leak",
        ["memory", "predicted-oom", "leak"],
        """Both invoice renderers restarted a minute ago and have been growing steadily since,
        about 10Mi a simulated minute from 180Mi toward their 512Mi limit: nothing has failed
        yet. The usage sampler's trend is linear (no levelling off), so the autonomous loop
        opens a PredictedOOM incident before the first kill, and the rules hand it to a human as
        a likely leak with the trend: a higher limit would only delay the kill. Nothing is
        written.""",
        built,
        {**hand_over("PredictedOOM"), "approvals": [], "restarts_at_open": 0, "says": ["leak"]},
        behaviour={
            "memory_needed": "180Mi",
            "memory_leak_per_minute": "10Mi",
            "after_delete": "healthy",
            "pods": {name: "healthy" for name in pods},
        },
        replay={"open_by": "watch", "usage_sample_seconds": 15, "observe_seconds": 900},
    )


@scenario
def predicted_oom_plateau() -> dict[str, Any]:
    built, _, _ = _growing(
        "catalog",
        "search-cache",
        "registry.example.com/catalog/search-cache:2.9.1",
        limit="256Mi",
        replicas=2,
        started_ago=30,
    )
    pods = [o["metadata"]["name"] for o in built.objects if o.get("kind") == "Pod"]
    return assemble(
        "predicted-oom-plateau",
        ["memory", "predicted-oom", "plateau"],
        """A search cache warming up after a restart: 100Mi at start, growing fast (30Mi a
        simulated minute) and slowing as it nears its 300Mi working set, which is above the
        256Mi limit. The trend is decelerating: the loop opens a PredictedOOM incident before
        any kill and the rules size the limit for the projected level with the VPA rule. The
        policy here auto-approves memory raises, yet a raise decided on a prediction always asks
        a human: one approval, one template patch, healed.""",
        built,
        {
            "issues": ["PredictedOOM"],
            "action": "increase_memory_limit",
            "writes": ["increase_memory_limit"],
            "forbidden": ["scale_down_deployment", "rollback_deployment", "delete_pod"],
            "outcome": "healed",
            "approvals": ["increase_memory_limit"],
            "restarts_at_open": 0,
        },
        behaviour={
            "memory_needed": "100Mi",
            "memory_leak_per_minute": "30Mi",
            "memory_plateau": "300Mi",
            "after_delete": "healthy",
            "pods": {name: "healthy" for name in pods},
        },
        policy_overrides={
            "auto_approve": ["increase_memory_limit"],
            "auto_approve_max_risk": "medium",
        },
        replay={"open_by": "watch", "usage_sample_seconds": 15, "observe_seconds": 900},
    )


@scenario
def oom_leak_after_raise() -> dict[str, Any]:
    built, w, _ = _growing(
        "shop",
        "session-store",
        "registry.example.com/shop/session-store:3.1.0",
        limit="228Mi",
        replicas=1,
        started_ago=600,
        revisions=[(1, "128Mi", 86400 * 6), (2, "228Mi", 660)],
    )
    pods = [o["metadata"]["name"] for o in built.objects if o.get("kind") == "Pod"]
    return assemble(
        "oom-leak-after-raise",
        ["oom", "memory", "leak"],
        """Eleven minutes ago kubemedic raised the session store from 128Mi to 228Mi after an
        OOM kill (revision 2; the rate-limit store holds the raise). The new pod grows linearly,
        10Mi a simulated minute, and is OOM killed again at 228Mi while the harness watches with
        the usage sampler on. A second OOM kill inside the escalation window without the working
        set levelling off is a leak candidate: handed to a human with the trend of the run that
        ended in the kill, no second raise.""",
        built,
        {
            **hand_over("OOMKilled"),
            "approvals": [],
            "parameters": {"leak_candidate": "true"},
            "says": ["leak"],
        },
        behaviour={
            "memory_needed": "64Mi",
            "memory_leak_per_minute": "10Mi",
            "after_delete": "healthy",
            "pods": {name: "healthy" for name in pods},
        },
        rate_limits=[
            {
                "namespace": "shop",
                "workload": "Deployment/session-store",
                "action": "increase_memory_limit",
                "seconds_ago": 660,
            }
        ],
        replay={"usage_sample_seconds": 15, "observe_seconds": 480},
    )
