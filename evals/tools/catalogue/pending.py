"""Pods the scheduler cannot place: a full cluster, requests larger than any node,
unbound claims, taints, node selectors."""

from __future__ import annotations

from typing import Any

from evals.tools.builders import (
    Container,
    Revision,
    deployment,
    event,
    namespace,
    pod,
    pvc,
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
    healthy_pods,
    metrics_for,
    standard_nodes,
)

SCENARIOS: list[ScenarioFn] = []
scenario = collector(SCENARIOS)


PREEMPT_NOT_HELPFUL = (
    "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.."
)


def _pending(
    name: str,
    ns: str,
    c: Container,
    message: str,
    desc: str,
    tag: str,
    expect: dict[str, Any],
    *,
    replicas: int = 1,
    running: int = 0,
    nodes: list[dict[str, Any]] | None = None,
    extra: list[dict[str, Any]] | None = None,
    volumes: list[dict[str, Any]] | None = None,
    spec_extra: dict[str, Any] | None = None,
    behaviour: dict[str, Any] | None = None,
    filler: list[dict[str, Any]] | None = None,
    tags: list[str] | None = None,
) -> dict[str, Any]:
    w = deployment(
        ns,
        name,
        [Revision(1, [c], replicas, running, 1200, volumes=volumes, spec_extra=spec_extra)],
        replicas,
        created_ago=1200,
    )
    run = healthy_pods(ns, w, 1, running, c, age=1190)
    pend = []
    for i in range(running, replicas):
        p = pod(
            ns,
            w.pod_name(1, i),
            [c],
            [],
            owner=w.rs_for(1),
            labels=w.labels(1),
            created_ago=1190,
            pending_message=message,
            volumes=volumes,
            spec_extra=spec_extra,
        )
        pend.append(p)
    events = [
        event(
            ns,
            p,
            "FailedScheduling",
            message,
            count=14,
            first_ago=1190,
            last_ago=25,
            component="default-scheduler",
        )
        for p in pend
    ]
    objects = [
        namespace(ns),
        *(nodes or standard_nodes()),
        *(extra or []),
        w.deployment,
        *w.replicasets,
        *run,
        *pend,
        *(filler or []),
        *events,
    ]
    built = Built(objects, ns, pend[0]["metadata"]["name"], [], metrics_for(ns, run))
    return assemble(
        f"pending-{tag}", tags or ["pending", tag], desc, built, expect, behaviour=behaviour or {}
    )


@scenario
def pending_cluster_full() -> dict[str, Any]:
    # Other tenants use most of both nodes; 4 of 6 workers fit, 2 stay Pending.
    filler = []
    hog = Container(
        "app",
        "registry.example.com/ml/trainer:0.4.0",
        cpu_request="2",
        memory_request="4Gi",
        memory_limit="4Gi",
    )
    wf = deployment("ml", "trainer", [Revision(1, [hog], 2, 2, 86400)], 2)
    filler += [namespace("ml"), wf.deployment, *wf.replicasets, *healthy_pods("ml", wf, 1, 2, hog)]
    c = Container(
        "worker",
        "registry.example.com/batch/render-worker:1.0.3",
        cpu_request="1",
        memory_request="1Gi",
        memory_limit="1Gi",
        port=None,
    )
    return _pending(
        "render-worker",
        "batch",
        c,
        "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: 2 No "
        "preemption victims found for incoming pod..",
        """The render workers were scaled to 6 while the ML team trains; only 4 fit. The cluster is
        merely full (each worker fits an empty node). Scaling the deployment down to what runs
        clears the Pending pods; adding nodes is the alternative a human may prefer.""",
        "cluster-full",
        {
            "issues": ["Pending"],
            "action": ["scale_down_deployment", "investigate_manually"],
            "may_write": ["scale_down_deployment"],
            "forbidden": ["delete_pod", "increase_memory_limit", "rollback_deployment"],
            "outcome": ["healed", "handed_to_human"],
        },
        replicas=6,
        running=4,
        filler=filler,
    )


@scenario
def pending_cpu_larger_than_any_node() -> dict[str, Any]:
    c = Container(
        "app",
        "registry.example.com/ml/feature-store:2.1.0",
        cpu_request="16",
        memory_request="4Gi",
        memory_limit="8Gi",
    )
    return _pending(
        "feature-store",
        "ml",
        c,
        "0/2 nodes are available: 2 Insufficient cpu. " + PREEMPT_NOT_HELPFUL,
        """A request of 16 CPUs on a cluster of 4-CPU nodes: no node could ever hold it. Name the
        request and the largest node; scaling down would not help.""",
        "cpu-larger-than-any-node",
        hand_over("Pending"),
    )


@scenario
def pending_memory_larger_than_any_node() -> dict[str, Any]:
    c = Container(
        "app",
        "registry.example.com/data/olap:24.1",
        cpu_request="2",
        memory_request="32Gi",
        memory_limit="32Gi",
    )
    return _pending(
        "olap",
        "data",
        c,
        "0/2 nodes are available: 2 Insufficient memory. " + PREEMPT_NOT_HELPFUL,
        """The analytics database asks for 32Gi; nodes have 8Gi allocatable.""",
        "memory-larger-than-any-node",
        hand_over("Pending"),
    )


@scenario
def pending_unbound_pvc() -> dict[str, Any]:
    vols = [{"name": "data", "persistentVolumeClaim": {"claimName": "postgres-data"}}]
    c = Container(
        "postgres",
        "postgres:16.2",
        port=5432,
        volume_mounts=[{"mountPath": "/var/lib/postgresql/data", "name": "data"}],
    )
    claim = pvc("db", "postgres-data", "fast-ssd")
    built = _pending(
        "postgres",
        "db",
        c,
        "0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims. "
        + PREEMPT_NOT_HELPFUL,
        """The claim asks for StorageClass fast-ssd, which does not exist in this cluster, so it
        never binds and the pod never schedules.""",
        "unbound-pvc",
        hand_over("Pending"),
        extra=[claim],
        volumes=vols,
    )
    claim_events = [
        event(
            "db",
            claim,
            "ProvisioningFailed",
            'storageclass.storage.k8s.io "fast-ssd" not found',
            count=20,
            first_ago=900,
            last_ago=20,
            component="persistentvolume-controller",
        )
    ]
    built["cluster"]["objects"] += claim_events
    return built


@scenario
def pending_taints() -> dict[str, Any]:
    taint = [{"effect": "NoSchedule", "key": "dedicated", "value": "gpu"}]
    from evals.tools.builders import node

    nodes = [node(n, taints=taint, labels={"dedicated": "gpu"}) for n in NODES]
    c = Container("app", "registry.example.com/web/blog:1.3.0")
    return _pending(
        "blog",
        "web",
        c,
        "0/2 nodes are available: 2 node(s) had untolerated taint {dedicated: gpu}. "
        + PREEMPT_NOT_HELPFUL,
        """Both nodes are tainted for GPU work; the blog has no toleration. Scheduling policy is a
        human decision.""",
        "taints",
        hand_over("Pending"),
        nodes=nodes,
    )


@scenario
def pending_node_selector() -> dict[str, Any]:
    c = Container("app", "registry.example.com/web/media-proxy:0.9.2")
    return _pending(
        "media-proxy",
        "web",
        c,
        "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. "
        + PREEMPT_NOT_HELPFUL,
        """The pod requires nodeSelector disktype=ssd; no node carries that label.""",
        "node-selector",
        hand_over("Pending"),
        spec_extra={"nodeSelector": {"disktype": "ssd"}},
    )
