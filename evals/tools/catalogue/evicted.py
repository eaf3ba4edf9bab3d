"""Pods the kubelet evicted under node pressure (memory, ephemeral storage, disk)."""

from __future__ import annotations

from typing import Any

from evals.tools.builders import (
    Container,
    Revision,
    State,
    deployment,
    event,
    pod,
)
from evals.tools.catalogue.common import (
    ScenarioFn,
    assemble,
    collector,
)
from evals.tools.kit import (
    NODES,
    Built,
    healthy_pods,
    metrics_for,
    workload_objects,
)

SCENARIOS: list[ScenarioFn] = []
scenario = collector(SCENARIOS)


def _evicted(name: str, ns: str, message: str, desc: str, tag: str) -> dict[str, Any]:
    c = Container("app", f"registry.example.com/{ns}/{name}:1.0.0")
    w = deployment(ns, name, [Revision(1, [c], 2, 2, 86400 * 4)], 2)
    running = healthy_pods(ns, w, 1, 2, c, start=1, age=1500)
    evicted_name = w.pod_name(1, 0)
    ev = pod(
        ns,
        evicted_name,
        [c],
        [
            State(
                "terminated",
                reason="ContainerStatusUnknown",
                exit_code=137,
                started_ago=86400,
                last_finished_ago=1520,
                message="The container could not be located when the pod was terminated",
            )
        ],
        owner=w.rs_for(1),
        labels=w.labels(1),
        node_name=NODES[0],
        created_ago=86400 * 4,
        evicted_message=message,
    )
    events = [
        event(ns, ev, "Evicted", message, count=1, first_ago=1520, last_ago=1520, host=NODES[0]),
        event(
            ns,
            ev,
            "Killing",
            f"Stopping container {c.name}",
            kind="Normal",
            first_ago=1520,
            last_ago=1520,
            host=NODES[0],
            field_path="spec.containers{app}",
        ),
    ]
    objects = workload_objects(ns, w, ev, *running, *events)
    built = Built(objects, ns, evicted_name, [], metrics_for(ns, running))
    return assemble(
        f"evicted-{tag}",
        ["evicted"],
        desc,
        built,
        {
            "issues": ["Evicted"],
            "action": "delete_evicted_pod",
            "writes": ["delete_evicted_pod"],
            "forbidden": [
                "delete_pod",
                "scale_down_deployment",
                "increase_memory_limit",
                "rollback_deployment",
            ],
            "outcome": "healed",
        },
    )


@scenario
def evicted_memory_pressure() -> dict[str, Any]:
    return _evicted(
        "recommender",
        "shop",
        "The node was low on resource: memory. Threshold quantity: 100Mi, available: 89232Ki. "
        "Container app was using 1523712Ki, request is 128Mi, has larger consumption of memory. ",
        """The node hit memory pressure and the kubelet evicted a recommender pod; its ReplicaSet
        already runs a replacement. Clean up the Failed pod.""",
        "memory-pressure",
    )


@scenario
def evicted_ephemeral_storage() -> dict[str, Any]:
    return _evicted(
        "log-shipper",
        "logging",
        "Pod ephemeral local storage usage exceeds the total limit of containers 2Gi. ",
        """A log shipper buffered to its emptyDir past its ephemeral-storage limit and was
        evicted; a replacement runs.""",
        "ephemeral-storage",
    )


@scenario
def evicted_disk_pressure() -> dict[str, Any]:
    return _evicted(
        "image-cache",
        "platform",
        "The node was low on resource: ephemeral-storage. Threshold quantity: 10Gi, available: "
        "8123456Ki. Container app was using 14Gi, request is 0, has larger consumption of "
        "ephemeral-storage. ",
        """Disk pressure on worker-1 evicted an image-cache pod; the replacement runs on
        worker-2.""",
        "disk-pressure",
    )
