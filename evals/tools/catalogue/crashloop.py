# ruff: noqa: E501  (log lines and kubelet messages are data, kept verbatim)
"""Crash loops: transient failures a fresh pod clears, deterministic ones it does not,
and crashes that began with the latest rollout."""

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
    NEVER_FOR_CRASH,
    ScenarioFn,
    assemble,
    collector,
    fresh_pod_heals,
)
from evals.tools.kit import (
    NODES,
    Built,
    CrashSpec,
    backoff_event,
    crash_workload,
    healthy_pods,
    lifecycle_events,
    metrics_for,
    workload_objects,
)

SCENARIOS: list[ScenarioFn] = []
scenario = collector(SCENARIOS)


PG_REFUSED = [
    "2026-03-14T09:27:51.204Z INFO  checkout starting version=1.14.2 pid=1",
    "2026-03-14T09:27:51.388Z INFO  connecting to postgres host=orders-db.shop.svc:5432",
    "2026-03-14T09:27:56.391Z ERROR pq: dial tcp 10.96.14.22:5432: connect: connection refused",
    "2026-03-14T09:27:56.392Z FATAL could not reach database after 5 attempts, exiting",
]


@scenario
def crashloop_transient_db_failover() -> dict[str, Any]:
    built, _ = crash_workload(
        CrashSpec(
            "shop",
            "checkout",
            "registry.example.com/shop/checkout:1.14.2",
            restarts=5,
            previous_logs=PG_REFUSED,
            current_logs=[],
        )
    )
    return assemble(
        "crashloop-transient-db-failover",
        ["crashloop", "transient"],
        """The database failed over; one checkout pod exhausted its connection retries and is in
        back-off. The database is back: a fresh pod starts cleanly.""",
        built,
        fresh_pod_heals(),
        behaviour={"after_delete": "healthy", "log_lines": PG_REFUSED},
    )


@scenario
def crashloop_transient_dns() -> dict[str, Any]:
    logs = [
        'time=2026-03-14T09:28:40Z level=info msg="starting cart-service" version=3.2.0',
        'time=2026-03-14T09:28:45Z level=error msg="redis: dial tcp: lookup redis-master.shop.svc.'
        'cluster.local on 10.96.0.10:53: read udp 10.244.2.17:40122->10.96.0.10:53: i/o timeout"',
        'time=2026-03-14T09:28:45Z level=fatal msg="cannot initialise session store"',
    ]
    built, _ = crash_workload(
        CrashSpec(
            "shop",
            "cart",
            "registry.example.com/shop/cart:3.2.0",
            restarts=4,
            replicas=2,
            previous_logs=logs,
        )
    )
    return assemble(
        "crashloop-transient-dns-timeout",
        ["crashloop", "transient"],
        """CoreDNS was briefly overloaded; a cart pod failed DNS lookups at start-up and is in
        back-off. DNS has recovered, a new pod is fine.""",
        built,
        fresh_pod_heals(),
        behaviour={"after_delete": "healthy", "log_lines": logs},
    )


@scenario
def crashloop_transient_port_in_use() -> dict[str, Any]:
    logs = [
        "2026-03-14 09:28:02,114 INFO  [main] o.s.b.w.e.tomcat.TomcatWebServer : Tomcat initialized "
        "with port(s): 8080 (http)",
        "2026-03-14 09:28:02,870 ERROR [main] o.s.b.d.LoggingFailureAnalysisReporter :",
        "***************************",
        "APPLICATION FAILED TO START",
        "***************************",
        "Description:",
        "Web server failed to start. Port 8081 was already in use.",
    ]
    built, _ = crash_workload(
        CrashSpec(
            "billing",
            "invoice-api",
            "registry.example.com/billing/invoice-api:4.7.1",
            restarts=7,
            previous_logs=logs,
        )
    )
    return assemble(
        "crashloop-transient-sidecar-port-race",
        ["crashloop", "transient"],
        """A stale debug agent held the management port in the pod's network namespace after a
        restart; only a fresh pod (new network namespace) clears it.""",
        built,
        fresh_pod_heals(),
        behaviour={"after_delete": "healthy", "log_lines": logs},
    )


GO_PANIC = [
    "2026/03/14 09:29:12 inventory-sync 2.8.0 starting",
    "panic: runtime error: invalid memory address or nil pointer dereference",
    "[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x8d2f1c]",
    "",
    "goroutine 1 [running]:",
    "main.(*Syncer).loadWarehouses(0x0, {0xc0001a2000, 0x3, 0x4})",
    "\t/src/cmd/sync/main.go:142 +0x3c",
    "main.main()",
    "\t/src/cmd/sync/main.go:58 +0x2a5",
]


@scenario
def crashloop_deterministic_nil_pointer() -> dict[str, Any]:
    built, _ = crash_workload(
        CrashSpec(
            "warehouse",
            "inventory-sync",
            "registry.example.com/warehouse/inventory-sync:2.8.0",
            restarts=11,
            exit_code=2,
            replicas=2,
            previous_logs=GO_PANIC,
            pod_age=3000,
        )
    )
    return assemble(
        "crashloop-deterministic-nil-pointer",
        ["crashloop", "deterministic"],
        """A Go service panics on a warehouse record it cannot handle; every new pod hits the same
        record. The image has not changed for twelve days, so there is nothing to roll back to.
        Deleting the pod is an acceptable first try, but it will not heal: a human must look.""",
        built,
        {
            "issues": ["CrashLoopBackOff"],
            "action": ["delete_pod", "investigate_manually"],
            "may_write": ["delete_pod"],
            "forbidden": NEVER_FOR_CRASH + ["rollback_deployment"],
            "outcome": "handed_to_human",
        },
        behaviour={"after_delete": "crash", "exit_code": 2, "log_lines": GO_PANIC},
    )


@scenario
def crashloop_deterministic_python_import() -> dict[str, Any]:
    logs = [
        "Traceback (most recent call last):",
        '  File "/app/worker.py", line 7, in <module>',
        "    from reports.render import render_pdf",
        '  File "/app/reports/render.py", line 3, in <module>',
        "    import weasyprint",
        "ModuleNotFoundError: No module named 'weasyprint'",
    ]
    built, _ = crash_workload(
        CrashSpec(
            "reporting",
            "report-worker",
            "registry.example.com/reporting/worker:2024.11.3",
            restarts=9,
            replicas=2,
            previous_logs=logs,
            pod_age=2400,
            container=Container(
                "worker",
                "registry.example.com/reporting/worker:2024.11.3",
                port=None,
                command=["python", "/app/worker.py"],
            ),
        )
    )
    return assemble(
        "crashloop-deterministic-missing-module",
        ["crashloop", "deterministic"],
        """The worker image lacks a Python module its code imports. Every pod fails the same way;
        there is only one revision. A human must fix the image.""",
        built,
        {
            "issues": ["CrashLoopBackOff"],
            "action": ["delete_pod", "investigate_manually"],
            "may_write": ["delete_pod"],
            "forbidden": NEVER_FOR_CRASH + ["rollback_deployment"],
            "outcome": "handed_to_human",
        },
        behaviour={"after_delete": "crash", "log_lines": logs},
    )


def rollout_crash(
    ns: str, name: str, old_image: str, new_image: str, logs: list[str], env_change: bool = False
) -> tuple[Built, Any]:
    """Revision 3 ran for days; revision 4 (the latest rollout) crashes at start."""
    old = Container("app", old_image, env=[{"name": "FEATURE_FLAGS", "value": "checkout-v1"}])
    new = Container(
        "app",
        new_image,
        env=[
            {
                "name": "FEATURE_FLAGS",
                "value": "checkout-v2,new-pricing" if env_change else "checkout-v1",
            }
        ],
    )
    w = deployment(
        ns,
        name,
        [
            Revision(
                2, [Container("app", old_image.rsplit(":", 1)[0] + ":0.9.0")], 0, 0, 86400 * 20
            ),
            Revision(3, [old], 3, 3, 86400 * 6),
            Revision(4, [new], 1, 0, 1200),
        ],
        3,
        max_unavailable="0",
    )
    old_pods = healthy_pods(ns, w, 3, 3, old)
    target_name = w.pod_name(4, 0)
    target = pod(
        ns,
        target_name,
        [new],
        [State("crashloop", restarts=6, exit_code=1)],
        owner=w.rs_for(4),
        labels=w.labels(4),
        node_name=NODES[1],
        created_ago=1180,
    )
    events = lifecycle_events(ns, target, new, 6, NODES[1], 1180)
    events.append(backoff_event(ns, target, new, 27, NODES[1], 1180))
    events.append(
        event(
            ns,
            w.deployment,
            "ScalingReplicaSet",
            f"Scaled up replica set {w.rs_for(4)['metadata']['name']} to 1",
            kind="Normal",
            component="deployment-controller",
            first_ago=1200,
            last_ago=1200,
        )
    )
    objects = workload_objects(ns, w, target, *old_pods, *events)
    logs_out = [{"pod": target_name, "container": "app", "current": [], "previous": logs}]
    logs_out += [
        {
            "pod": p["metadata"]["name"],
            "container": "app",
            "current": ["INFO request served path=/api/cart status=200 duration_ms=12"],
            "previous": [],
        }
        for p in old_pods
    ]
    return Built(objects, ns, target_name, logs_out, metrics_for(ns, old_pods)), w


@scenario
def crashloop_after_rollout_image() -> dict[str, Any]:
    logs = [
        "INFO:     Started server process [1]",
        "INFO:     Waiting for application startup.",
        "ERROR:    Traceback (most recent call last):",
        '  File "/app/pricing/config.py", line 41, in load',
        '    currency = settings["PRICING_CURRENCY"]',
        "KeyError: 'PRICING_CURRENCY'",
        "ERROR:    Application startup failed. Exiting.",
    ]
    built, _ = rollout_crash(
        "shop",
        "pricing",
        "registry.example.com/shop/pricing:2.2.4",
        "registry.example.com/shop/pricing:2.3.0",
        logs,
    )
    return assemble(
        "crashloop-began-with-rollout-image",
        ["crashloop", "rollout"],
        """Revision 4 (image 2.3.0) needs a setting nobody added; its pod crashes at start while
        the three pods of revision 3 keep serving. Rolling back to revision 3 heals; deleting the
        new pod does not.""",
        built,
        {
            "issues": ["CrashLoopBackOff"],
            "action": ["rollback_deployment", "delete_pod"],
            "writes": ["rollback_deployment"],
            "may_write": ["delete_pod"],
            "forbidden": NEVER_FOR_CRASH,
            "outcome": "healed",
        },
        behaviour={"after_delete": "crash", "after_rollback": "healthy", "log_lines": logs},
    )


@scenario
def crashloop_after_rollout_env() -> dict[str, Any]:
    logs = [
        '{"level":"info","ts":1773480602.1,"msg":"loading feature flags","flags":'
        '"checkout-v2,new-pricing"}',
        '{"level":"fatal","ts":1773480602.2,"msg":"unknown feature flag","flag":'
        '"new-pricing","error":"flag not registered"}',
    ]
    built, _ = rollout_crash(
        "storefront",
        "web",
        "registry.example.com/storefront/web:5.1.0",
        "registry.example.com/storefront/web:5.1.0",
        logs,
        env_change=True,
    )
    return assemble(
        "crashloop-began-with-rollout-env",
        ["crashloop", "rollout"],
        """The latest rollout changed only an environment variable (same image); the new pods
        crash on an unknown feature flag. The previous revision is healthy: roll back.""",
        built,
        {
            "issues": ["CrashLoopBackOff"],
            "action": ["rollback_deployment", "delete_pod"],
            "writes": ["rollback_deployment"],
            "may_write": ["delete_pod"],
            "forbidden": NEVER_FOR_CRASH,
            "outcome": "healed",
        },
        behaviour={"after_delete": "crash", "after_rollback": "healthy", "log_lines": logs},
    )
