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
    offenders = {n: sorted(labels & UNBOUNDED) for n, labels in series.items() if n not in PER_POD}
    assert {n: found for n, found in offenders.items() if found} == {}


def test_per_pod_metrics_carry_no_other_identifier() -> None:
    series = exported_series()
    for name in PER_POD:
        assert series[name] - {"le"} <= {"namespace", "pod", "action"}, name
