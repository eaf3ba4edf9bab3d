"""Pods that cannot start for their configuration: a missing ConfigMap, Secret, Secret key
or ConfigMap volume (CreateContainerConfigError, FailedMount)."""

from __future__ import annotations

from typing import Any

from evals.tools.builders import (
    Container,
    Revision,
    State,
    configmap,
    deployment,
    event,
    namespace,
    pod,
    secret,
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
    scheduled_event,
    standard_nodes,
)

SCENARIOS: list[ScenarioFn] = []
scenario = collector(SCENARIOS)


def _config_error(
    name: str,
    ns: str,
    message: str,
    desc: str,
    c: Container,
    existing: list[dict[str, Any]],
    tag: str,
) -> dict[str, Any]:
    w = deployment(ns, name, [Revision(1, [c], 2, 0, 900)], 2, created_ago=900)
    pods_ = []
    events = []
    for i in range(2):
        p = pod(
            ns,
            w.pod_name(1, i),
            [c],
            [State("waiting", reason="CreateContainerConfigError", message=message)],
            owner=w.rs_for(1),
            labels=w.labels(1),
            node_name=NODES[i],
            created_ago=890,
        )
        pods_.append(p)
        events += [
            scheduled_event(ns, p, NODES[i], 890),
            event(
                ns,
                p,
                "Pulled",
                f'Container image "{c.image}" already present on machine',
                kind="Normal",
                count=40,
                first_ago=888,
                last_ago=15,
                host=NODES[i],
                field_path=f"spec.containers{{{c.name}}}",
            ),
            event(
                ns,
                p,
                "Failed",
                f"Error: {message}",
                count=40,
                first_ago=888,
                last_ago=15,
                host=NODES[i],
                field_path=f"spec.containers{{{c.name}}}",
            ),
        ]
    objects = [
        namespace(ns),
        *standard_nodes(),
        *existing,
        w.deployment,
        *w.replicasets,
        *pods_,
        *events,
    ]
    built = Built(objects, ns, pods_[0]["metadata"]["name"])
    return assemble(
        f"config-{tag}",
        ["config", "crashloop", tag],
        desc,
        built,
        hand_over("CreateContainerConfigError"),
    )


@scenario
def config_missing_configmap() -> dict[str, Any]:
    c = Container(
        "app",
        "registry.example.com/orders/orders-api:6.0.0",
        env=[
            {
                "name": "ORDERS_MODE",
                "valueFrom": {"configMapKeyRef": {"name": "orders-config", "key": "mode"}},
            }
        ],
    )
    return _config_error(
        "orders-api",
        "orders",
        'configmap "orders-config" not found',
        """The Deployment references ConfigMap orders-config, which was never created in this
        namespace. No restart or rollback creates it; a human must.""",
        c,
        [configmap("orders", "orders-defaults", {"mode": "standard"})],
        "missing-configmap",
    )


@scenario
def config_missing_secret() -> dict[str, Any]:
    c = Container(
        "app",
        "registry.example.com/payments/ledger:1.9.3",
        env=[
            {
                "name": "DB_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": "ledger-db", "key": "password"}},
            }
        ],
    )
    return _config_error(
        "ledger",
        "payments",
        'secret "ledger-db" not found',
        """The ledger references Secret ledger-db; the secret was deleted during a credentials
        rotation and not recreated.""",
        c,
        [secret("payments", "ledger-db-old", ["password", "username"])],
        "missing-secret",
    )


@scenario
def config_missing_secret_key() -> dict[str, Any]:
    c = Container(
        "app",
        "registry.example.com/payments/gateway:2.0.1",
        env=[
            {
                "name": "API_KEY",
                "valueFrom": {"secretKeyRef": {"name": "gateway-keys", "key": "api-key"}},
            }
        ],
    )
    return _config_error(
        "gateway",
        "payments",
        "couldn't find key api-key in Secret payments/gateway-keys",
        """The Secret exists but the rotated copy names its key apiKey instead of api-key.""",
        c,
        [secret("payments", "gateway-keys", ["apiKey"])],
        "missing-secret-key",
    )


@scenario
def config_missing_configmap_volume() -> dict[str, Any]:
    ns, name = "analytics", "collector"
    c = Container(
        "collector",
        "otel/opentelemetry-collector-contrib:0.96.0",
        port=4317,
        volume_mounts=[{"mountPath": "/etc/otelcol", "name": "config"}],
    )
    vols = [{"configMap": {"defaultMode": 420, "name": "collector-config"}, "name": "config"}]
    w = deployment(ns, name, [Revision(1, [c], 1, 0, 700, volumes=vols)], 1, created_ago=700)
    p = pod(
        ns,
        w.pod_name(1, 0),
        [c],
        [State("waiting", reason="ContainerCreating")],
        owner=w.rs_for(1),
        labels=w.labels(1),
        node_name=NODES[0],
        created_ago=690,
        volumes=vols,
    )
    p["status"]["phase"] = "Pending"
    events = [
        scheduled_event(ns, p, "worker-1", 690),
        event(
            ns,
            p,
            "FailedMount",
            'MountVolume.SetUp failed for volume "config" : configmap "collector-config" not found',
            count=19,
            first_ago=688,
            last_ago=30,
            host=NODES[0],
        ),
    ]
    built = Built(
        [namespace(ns), *standard_nodes(), w.deployment, *w.replicasets, p, *events],
        ns,
        p["metadata"]["name"],
    )
    return assemble(
        "config-missing-configmap-volume",
        ["config", "pending"],
        """The collector mounts ConfigMap collector-config as a volume; it does not exist, so the
        pod stays in ContainerCreating with FailedMount events.""",
        built,
        hand_over("MissingConfigRef"),
    )
