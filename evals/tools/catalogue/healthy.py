"""Healthy but noisy pods: warnings, an old restart, handled errors, busy CPU.
Nothing to do, and nothing may be written."""

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
    ALL_WRITES,
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


def _healthy(
    name: str,
    ns: str,
    logs: list[str],
    desc: str,
    tag: str,
    *,
    restarts: int = 0,
    cpu: str = "40m",
    memory: str = "180Mi",
    cpu_limit: str | None = None,
    issues: list[str] | None = None,
) -> dict[str, Any]:
    c = Container("app", f"registry.example.com/{ns}/{name}:2.4.0", cpu_limit=cpu_limit)
    w = deployment(ns, name, [Revision(1, [c], 2, 2, 86400 * 10)], 2)
    target_name = w.pod_name(1, 0)
    target = pod(
        ns,
        target_name,
        [c],
        [
            State(
                "running", restarts=restarts, started_ago=86400 * 9, last_finished_ago=86400 * 9 + 5
            )
        ],
        owner=w.rs_for(1),
        labels=w.labels(1),
        node_name=NODES[0],
        created_ago=86400 * 10,
    )
    other = healthy_pods(ns, w, 1, 1, c, start=1, age=86400 * 10)
    objects = workload_objects(ns, w, target, *other)
    logs_out = [
        {
            "pod": target_name,
            "container": "app",
            "current": logs,
            "previous": ["FATAL config reload failed: context deadline exceeded"]
            if restarts
            else [],
        }
    ]
    metrics = metrics_for(ns, [target, *other], cpu=cpu, memory=memory)
    built = Built(objects, ns, target_name, logs_out, metrics)
    return assemble(
        f"healthy-{tag}",
        ["healthy", "noise"],
        desc,
        built,
        {"issues": issues or [], "action": "none", "forbidden": ALL_WRITES, "outcome": "healthy"},
    )


@scenario
def healthy_warnings_in_logs() -> dict[str, Any]:
    return _healthy(
        "profile",
        "accounts",
        [
            "WARN  [deprecation] endpoint /v1/profile is deprecated, use /v2/profile",
            "WARN  slow query took 1203ms: SELECT * FROM profiles WHERE id = $1",
            "INFO  GET /v2/profile 200 14ms",
            "WARN  [deprecation] endpoint /v1/profile is deprecated, use /v2/profile",
        ],
        """Running and Ready for nine days; its log is full of deprecation and slow-query
        warnings. Nothing to heal.""",
        "warnings-in-logs",
    )


@scenario
def healthy_one_old_restart() -> dict[str, Any]:
    return _healthy(
        "notifications",
        "messaging",
        ["INFO delivered 1204 messages in the last minute"],
        """One restart nine days ago (exit 1 after a config reload timeout), Running and Ready
        since. A single old restart is not a crash loop.""",
        "one-old-restart",
        restarts=1,
    )


@scenario
def healthy_handled_errors() -> dict[str, Any]:
    return _healthy(
        "quotes",
        "shop",
        [
            "ERROR upstream fx-rates returned 503, retrying in 2s (attempt 1/5)",
            "INFO  upstream fx-rates recovered",
            "ERROR context canceled: client disconnected",
            "INFO  GET /quotes 200 31ms",
        ],
        """ERROR lines that the service handles (retries succeed, client hang-ups). Ready, no
        restarts: leave it alone.""",
        "handled-errors",
    )


@scenario
def healthy_busy_cpu() -> dict[str, Any]:
    return _healthy(
        "encoder",
        "media",
        ["INFO encoding job 7781 at 1.8x realtime"],
        """An encoder busy at 92% of its CPU limit: working as designed, no restarts, Ready.""",
        "busy-cpu",
        cpu="920m",
        cpu_limit="1",
    )
