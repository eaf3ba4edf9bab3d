"""Diagnoses shaped like the spec's `diagnose_pod` output, for the rule-engine tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from policies import DecisionContext, Diagnosis, Policy, load_policy

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
MI = 2**20
GI = 2**30


def deployment(
    name: str = "web",
    replicas: int = 3,
    ready: int = 2,
    available: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "name": name,
        "replicas": replicas,
        "ready_replicas": ready,
        "available_replicas": ready if available is None else available,
        **extra,
    }


def owners(name: str = "web") -> list[dict[str, str]]:
    return [
        {"kind": "ReplicaSet", "name": f"{name}-5f7d8c9b4"},
        {"kind": "Deployment", "name": name},
    ]


def diagnosis(
    *issues: dict[str, Any],
    namespace: str = "default",
    pod_name: str = "web-5f7d8c9b4-x2k9p",
    workload: dict[str, Any] | None | str = "default",
    ready: bool | None = False,
    **fields: Any,
) -> Diagnosis:
    """A diagnosis; `workload="default"` gives the standard 3-replica Deployment `web`."""
    wl = deployment() if workload == "default" else workload
    conditions = [] if ready is None else [{"type": "Ready", "status": str(ready)}]
    data: dict[str, Any] = {
        "success": True,
        "pod_name": pod_name,
        "namespace": namespace,
        "pod_uid": "0b5e1c3a-1111-2222-3333-444455556666",
        "status": {"phase": "Running", "conditions": conditions, "container_statuses": []},
        "phase": "Running",
        "issues": list(issues),
        "logs": {"errors": [], "warnings": []},
        "events": [],
        "recommendations": [],
        "owner_chain": owners(wl["name"]) if isinstance(wl, dict) else [],
        "workload": wl,
    }
    data.update(fields)
    return Diagnosis.model_validate(data)


def crash(restarts: int = 5, container: str = "app", **extra: Any) -> dict[str, Any]:
    return {
        "severity": "critical",
        "type": "CrashLoopBackOff",
        "container": container,
        "message": "Container is restarting frequently",
        "restart_count": restarts,
        "reason": "CrashLoopBackOff",
        "exit_code": 1,
        "last_termination_reason": "Error",
        **extra,
    }


def oom(container: str = "app", restarts: int = 4) -> dict[str, Any]:
    return {
        "severity": "critical",
        "type": "OOMKilled",
        "container": container,
        "message": "Container was OOM-killed",
        "restart_count": restarts,
        "exit_code": 137,
        "last_termination_reason": "OOMKilled",
    }


def issue(type_: str, severity: str = "critical", **extra: Any) -> dict[str, Any]:
    return {"severity": severity, "type": type_, "message": f"{type_} found", **extra}


def resources(
    limit: int | None = 50 * MI, peak: int | None = None, name: str = "app"
) -> list[dict[str, Any]]:
    return [{"name": name, "memory_limit_bytes": limit, "memory_peak_bytes": peak}]


def rollout(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"current_revision": 2, "previous_revision": 1}
    base.update(fields)
    return base


def policy(**overrides: Any) -> Policy:
    return load_policy().model_copy(update=overrides)


def context(pol: Policy | None = None, **fields: Any) -> DecisionContext:
    return DecisionContext(policy=pol or load_policy(), now=NOW, **fields)
