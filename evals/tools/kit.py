"""Composite pieces shared by the scenario catalogue: a standard cluster, failing workloads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evals.tools.builders import (
    Container,
    Obj,
    Revision,
    State,
    Workload,
    deployment,
    event,
    namespace,
    node,
    pod,
)

NODES = ("worker-1", "worker-2")


def standard_nodes(cpu: str = "4", memory: str = "8Gi", **kw: Any) -> list[Obj]:
    return [node(n, cpu=cpu, memory=memory, **kw) for n in NODES]


@dataclass
class Built:
    """What a scenario function hands to the writer."""

    objects: list[Obj]
    target_ns: str
    target_pod: str
    logs: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)


def workload_objects(ns: str, w: Workload, *rest: Obj) -> list[Obj]:
    """A Deployment's incident in the standard cluster: its namespace, the two nodes, the
    Deployment and its ReplicaSets, then `rest` (pods, events)."""
    return [namespace(ns), *standard_nodes(), w.deployment, *w.replicasets, *rest]


def scheduled_event(ns: str, p: Obj, host: str, age: float) -> Obj:
    """The scheduler's `Scheduled` event, `age` seconds before the recording."""
    return event(
        ns,
        p,
        "Scheduled",
        f"Successfully assigned {ns}/{p['metadata']['name']} to {host}",
        kind="Normal",
        component="default-scheduler",
        first_ago=age,
        last_ago=age,
    )


def lifecycle_events(
    ns: str, p: Obj, c: Container, restarts: int, host: str, age: float
) -> list[Obj]:
    """The Normal events a kubelet writes for a container started `restarts + 1` times."""
    fp = f"spec.containers{{{c.name}}}"
    n = restarts + 1
    return [
        scheduled_event(ns, p, host, age),
        event(
            ns,
            p,
            "Pulled",
            f'Container image "{c.image}" already present on machine',
            kind="Normal",
            count=n,
            first_ago=age - 1,
            last_ago=45,
            host=host,
            field_path=fp,
        ),
        event(
            ns,
            p,
            "Created",
            f"Created container {c.name}",
            kind="Normal",
            count=n,
            first_ago=age - 1,
            last_ago=45,
            host=host,
            field_path=fp,
        ),
        event(
            ns,
            p,
            "Started",
            f"Started container {c.name}",
            kind="Normal",
            count=n,
            first_ago=age - 2,
            last_ago=44,
            host=host,
            field_path=fp,
        ),
    ]


def backoff_event(ns: str, p: Obj, c: Container, count: int, host: str, age: float) -> Obj:
    name = p["metadata"]["name"]
    return event(
        ns,
        p,
        "BackOff",
        f"Back-off restarting failed container {c.name} in pod {name}_{ns}({p['metadata']['uid']})",
        count=count,
        first_ago=age - 30,
        last_ago=8,
        host=host,
        field_path=f"spec.containers{{{c.name}}}",
    )


def healthy_pods(
    ns: str,
    w: Workload,
    revision: int,
    count: int,
    c: Container,
    start: int = 0,
    age: float = 86400 * 3,
    node_names: tuple[str, ...] = NODES,
) -> list[Obj]:
    out = []
    for i in range(start, start + count):
        out.append(
            pod(
                ns,
                w.pod_name(revision, i),
                [c],
                [State("running", started_ago=age - 5)],
                owner=w.rs_for(revision),
                labels=w.labels(revision),
                node_name=node_names[i % len(node_names)],
                created_ago=age,
            )
        )
    return out


def metrics_for(
    ns: str, pods: list[Obj], cpu: str = "12m", memory: str = "96Mi"
) -> list[dict[str, Any]]:
    out = []
    for p in pods:
        statuses = p["status"].get("containerStatuses", [])
        running = {s["name"] for s in statuses if "running" in s["state"]}
        if running:
            out.append(
                {
                    "pod": p["metadata"]["name"],
                    "namespace": ns,
                    "containers": {
                        name: {"cpu": cpu, "memory": memory} for name in sorted(running)
                    },
                }
            )
    return out


@dataclass
class CrashSpec:
    """A Deployment of `replicas` with one pod (the target) crash looping."""

    ns: str
    name: str
    image: str
    restarts: int = 6
    exit_code: int = 1
    reason: str = "Error"  # last termination reason
    replicas: int = 3
    previous_logs: list[str] = field(default_factory=list)
    current_logs: list[str] = field(default_factory=list)
    container: Container | None = None
    age: float = 86400 * 12  # of the deployment
    pod_age: float = 1500
    extra_events: list[tuple[str, str, int]] = field(default_factory=list)  # reason, msg, count


def crash_workload(spec: CrashSpec) -> tuple[Built, Workload]:
    c = spec.container or Container("app", spec.image)
    w = deployment(
        spec.ns,
        spec.name,
        [Revision(1, [c], spec.replicas, spec.replicas - 1, created_ago=spec.age)],
        spec.replicas,
        created_ago=spec.age,
    )
    others = healthy_pods(spec.ns, w, 1, spec.replicas - 1, c, start=1)
    target_name = w.pod_name(1, 0)
    host = NODES[0]
    target = pod(
        spec.ns,
        target_name,
        [c],
        [State("crashloop", restarts=spec.restarts, exit_code=spec.exit_code, reason=spec.reason)],
        owner=w.rs_for(1),
        labels=w.labels(1),
        node_name=host,
        created_ago=spec.pod_age,
    )
    events = lifecycle_events(spec.ns, target, c, spec.restarts, host, spec.pod_age)
    events.append(backoff_event(spec.ns, target, c, spec.restarts * 4 + 3, host, spec.pod_age))
    for reason, message, count in spec.extra_events:
        events.append(
            event(
                spec.ns,
                target,
                reason,
                message,
                count=count,
                host=host,
                first_ago=spec.pod_age - 20,
                last_ago=50,
                field_path=f"spec.containers{{{c.name}}}",
            )
        )
    objects = workload_objects(spec.ns, w, target, *others, *events)
    logs = [
        {
            "pod": target_name,
            "container": c.name,
            "current": spec.current_logs,
            "previous": spec.previous_logs,
        }
    ]
    for o in others:
        logs.append(
            {
                "pod": o["metadata"]["name"],
                "container": c.name,
                "current": ['level=info msg="serving" addr=:8080'],
                "previous": [],
            }
        )
    return Built(objects, spec.ns, target_name, logs, metrics_for(spec.ns, others)), w
