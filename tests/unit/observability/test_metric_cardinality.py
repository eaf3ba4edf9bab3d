"""Label sets stay bounded on a 10,000-pod cluster: only the series the specification names
carry a pod, and no metric carries an unbounded identifier."""

from __future__ import annotations

from .promql import exported_series

# The original specification's four metrics: per pod by design. pod_health_score is removed when
# the pod is gone (one series per live pod); the healing series grow only as fast as the rate
# limits allow actions.
PER_POD = {
    "healing_attempts_total",
    "healing_success_total",
    "healing_duration_seconds_bucket",
    "healing_duration_seconds_sum",
    "healing_duration_seconds_count",
    "pod_health_score",
}
# Right-sizing: one series per workload's container (never per pod, so rollouts and restarts add
# none), only for containers with enough usage data, capped at MAX_RIGHTSIZING_CONTAINERS and
# removed with the workload (docs/rightsizing.md).
PER_WORKLOAD_CONTAINER = {
    f"kubemedic_rightsizing_{kind}_{unit}"
    for kind in ("requested", "recommended", "freed")
    for unit in ("bytes", "millicores")
}
# Identifiers with one value per object, incident or request: never a label.
UNBOUNDED = {
    "pod",
    "pod_name",
    "container",
    "image",
    "node",
    "uid",
    "incident_id",
    "thread_id",
    "approval_id",
    "target",
    "deployment",
    "workload",
    "message",
    "error",
    "path",
    "url",
    "token",
    "caller",
    "user",
}


def test_only_the_specified_metrics_are_per_pod() -> None:
    series = {n: labels for n, labels in exported_series().items() if not n.endswith("_created")}
    assert PER_POD <= set(series)
    offenders = {
        n: sorted(labels & UNBOUNDED)
        for n, labels in series.items()
        if n not in PER_POD | PER_WORKLOAD_CONTAINER
    }
    assert {n: found for n, found in offenders.items() if found} == {}


def test_per_pod_metrics_carry_no_other_identifier() -> None:
    series = exported_series()
    for name in PER_POD:
        assert series[name] - {"le"} <= {"namespace", "pod", "action"}, name


def test_right_sizing_series_are_per_workload_container_and_capped() -> None:
    from mcp_server import metrics

    series = exported_series()
    for name in PER_WORKLOAD_CONTAINER:
        assert series[name] == {"namespace", "workload", "container"}, name
    assert 0 < metrics.MAX_RIGHTSIZING_CONTAINERS <= 1000
    assert series["kubemedic_rightsizing_containers"] == {"verdict"}


def test_right_sizing_series_are_replaced_and_capped() -> None:
    from prometheus_client import REGISTRY

    from mcp_server import metrics

    def count() -> int:
        value = 0
        for family in REGISTRY.collect():
            if family.name == "kubemedic_rightsizing_freed_bytes":
                value += sum(1 for s in family.samples if s.labels.get("namespace") == "cap-test")
        return value

    values = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0)
    rows = [(("cap-test", f"Deployment/w{i}", "app"), values) for i in range(1200)]
    metrics.set_rightsizing(rows, {"fits": 1200})
    assert count() == metrics.MAX_RIGHTSIZING_CONTAINERS
    metrics.set_rightsizing(rows[:3], {"fits": 3})  # the others are gone: their series too
    assert count() == 3
    metrics.set_rightsizing([], {"fits": 0})
    assert count() == 0
