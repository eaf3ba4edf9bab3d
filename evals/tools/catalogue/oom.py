"""OOM kills: steady usage over the limit, a JVM heap, LimitRange caps, leaks, bare pods."""

from __future__ import annotations

from typing import Any

from evals.tools.builders import (
    Container,
    State,
    limit_range,
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
    backoff_event,
    crash_workload,
    lifecycle_events,
    standard_nodes,
)

SCENARIOS: list[ScenarioFn] = []
scenario = collector(SCENARIOS)


def _oom(
    name: str,
    ns: str,
    image: str,
    limit: str,
    usage: str,
    logs: list[str],
    desc: str,
    tag: str,
    behaviour: dict[str, Any],
    expect: dict[str, Any],
    extra: list[dict[str, Any]] | None = None,
    restarts: int = 5,
) -> dict[str, Any]:
    c = Container("app", image, memory_request="128Mi", memory_limit=limit)
    built, _ = crash_workload(
        CrashSpec(
            ns,
            name,
            image,
            restarts=restarts,
            exit_code=137,
            reason="OOMKilled",
            container=c,
            previous_logs=logs,
        )
    )
    built.objects[1:1] = extra or []
    for m in built.metrics:
        for cont in m["containers"].values():
            cont["memory"] = usage
    return assemble(f"oom-{tag}", ["oom", tag], desc, built, expect, behaviour=behaviour)


@scenario
def oom_steady() -> dict[str, Any]:
    return _oom(
        "thumbnailer",
        "media",
        "registry.example.com/media/thumbnailer:1.6.0",
        "256Mi",
        "231Mi",
        ["INFO worker ready, concurrency=4", "INFO processing batch 8812 (48 images)"],
        """Image batches grew; the thumbnailer's steady working set is about 300Mi against a 256Mi
        limit, so it is OOM killed at every batch. 384Mi or more is enough.""",
        "steady",
        {"memory_needed": "300Mi", "after_delete": "oom"},
        {
            "issues": ["OOMKilled"],
            "action": "increase_memory_limit",
            "writes": ["increase_memory_limit"],
            "forbidden": ["scale_down_deployment", "rollback_deployment"],
            "outcome": "healed",
        },
    )


@scenario
def oom_java_heap() -> dict[str, Any]:
    return _oom(
        "settlement",
        "payments",
        "registry.example.com/payments/settlement:8.2.1",
        "512Mi",
        "498Mi",
        [
            "2026-03-14 09:27:10.001 INFO  Starting settlement run for 2026-03-13",
            "2026-03-14 09:27:44.870 INFO  Loaded 1,204,551 ledger entries",
        ],
        """A JVM with -Xmx480m plus metaspace and thread stacks needs about 620Mi and exceeds its
        512Mi limit at the daily settlement run. The kernel OOM killer ends it (exit 137). VPA's
        OOM rule takes one step, 512Mi x 1.2 = 615Mi, 5Mi short: the rolled-out pod is killed
        again inside the escalation window, and with no usage samples to show the working set
        levelling off that is a leak candidate for a human, not a second blind raise.""",
        "jvm",
        {"memory_needed": "620Mi", "after_delete": "oom"},
        {
            "issues": ["OOMKilled"],
            "action": "increase_memory_limit",
            "writes": ["increase_memory_limit"],
            "forbidden": ["scale_down_deployment", "rollback_deployment"],
            "outcome": "handed_to_human",
            "approvals": ["increase_memory_limit"],
            "parameters": {"memory_limit_bytes": "615Mi"},
        },
    )


@scenario
def oom_limitrange_cap() -> dict[str, Any]:
    return _oom(
        "etl",
        "data",
        "registry.example.com/data/etl:0.31.0",
        "1Gi",
        "1001Mi",
        ["INFO loading parquet partition date=2026-03-13 rows=18_400_112"],
        """The ETL job needs more than 1Gi, but the namespace LimitRange caps containers at 1Gi:
        the limit cannot be raised. A human must change the job or the quota.""",
        "limitrange-cap",
        {"memory_needed": "1500Mi", "after_delete": "oom"},
        hand_over("OOMKilled"),
        extra=[limit_range("data", "container-limits", "1Gi", "512Mi")],
    )


@scenario
def oom_limitrange_room() -> dict[str, Any]:
    return _oom(
        "indexer",
        "search",
        "registry.example.com/search/indexer:4.4.0",
        "256Mi",
        "240Mi",
        ["INFO indexing shard 3/8", "INFO merged 22 segments"],
        """A LimitRange caps containers at 2Gi; the indexer needs about 350Mi. Raising its 256Mi
        limit within the cap heals it.""",
        "limitrange-room",
        {"memory_needed": "350Mi", "after_delete": "oom"},
        {
            "issues": ["OOMKilled"],
            "action": "increase_memory_limit",
            "writes": ["increase_memory_limit"],
            "forbidden": ["scale_down_deployment", "rollback_deployment"],
            "outcome": "healed",
        },
        extra=[limit_range("search", "container-limits", "2Gi")],
    )


@scenario
def oom_leak() -> dict[str, Any]:
    return _oom(
        "session-cache",
        "shop",
        "registry.example.com/shop/session-cache:0.8.3",
        "256Mi",
        "250Mi",
        [
            "INFO cache entries=120034 evictions=0",
            "INFO cache entries=240511 evictions=0",
            "INFO cache entries=371090 evictions=0",
        ],
        """A cache without eviction grows without bound (about 100Mi a minute). A higher limit
        only delays the next OOM kill; verification must notice and hand over to a human.""",
        "leak",
        {"memory_leak_per_minute": "100Mi", "after_delete": "oom"},
        {
            "issues": ["OOMKilled"],
            "action": ["increase_memory_limit", "investigate_manually"],
            "may_write": ["increase_memory_limit"],
            "forbidden": ["scale_down_deployment", "rollback_deployment"],
            "outcome": "handed_to_human",
        },
    )


@scenario
def oom_bare_pod() -> dict[str, Any]:
    ns = "default"
    c = Container(
        "memory-hog",
        "polinux/stress",
        cpu_request=None,
        memory_request=None,
        memory_limit="50Mi",
        port=None,
        command=["stress"],
        args=["--vm", "1", "--vm-bytes", "100M"],
    )
    p = pod(
        ns,
        "oom-test",
        [c],
        [State("crashloop", restarts=5, exit_code=137, reason="OOMKilled")],
        node_name=NODES[0],
        created_ago=400,
    )
    events = lifecycle_events(ns, p, c, 5, NODES[0], 400)
    events.append(backoff_event(ns, p, c, 22, NODES[0], 400))
    logs = ["stress: info: [1] dispatching hogs: 0 cpu, 0 io, 1 vm, 0 hdd"]
    built = Built(
        [*standard_nodes(), p, *events],
        ns,
        "oom-test",
        [{"pod": "oom-test", "container": "memory-hog", "current": [], "previous": logs}],
    )
    return assemble(
        "oom-bare-pod",
        ["oom", "bare-pod"],
        """The original specification's OOM scenario: a bare pod (no controller) stressing 100M
        under a 50Mi limit. There is no template to patch and nothing would recreate a deleted
        pod: hand over to a human, write nothing.""",
        built,
        hand_over("OOMKilled"),
        behaviour={"memory_needed": "100Mi", "after_delete": "oom"},
    )
