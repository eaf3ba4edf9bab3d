"""The MCP server's Prometheus metrics (prometheus-client, default registry).

Every label set is bounded; the comment on each metric says why its labels are safe. The
`healing_*` and `pod_health_score` names and labels come from the original specification.
"""

from __future__ import annotations

import threading

from prometheus_client import Counter, Gauge, Histogram

# namespace/pod/action: the specification asks for them. Cardinality is bounded by the rate
# limits (a few actions per hour per workload) and the closed set of actions.
healing_attempts_total = Counter(
    "healing_attempts_total", "Total number of healing attempts", ["namespace", "pod", "action"]
)
healing_success_total = Counter(
    "healing_success_total", "Successful healing operations", ["namespace", "pod", "action"]
)
healing_duration_seconds = Histogram(
    "healing_duration_seconds",
    "Time taken to heal pods",
    ["namespace", "pod", "action"],
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)

# cluster: the clusters this server was configured with (a handful). Served only when one
# server serves several clusters; the specification's healing_* metrics keep their labels
# (dashboards and alerts read them), these count the same events per cluster.
clusters_info = Gauge("kubemedic_cluster_info", "The clusters this server serves", ["cluster"])
cluster_healing_attempts_total = Counter(
    "kubemedic_cluster_healing_attempts_total",
    "Healing attempts (intents recorded) per cluster",
    ["cluster", "action"],
)
cluster_healing_success_total = Counter(
    "kubemedic_cluster_healing_success_total",
    "Healing operations verified healed, per cluster",
    ["cluster", "action"],
)

# namespace/pod: one series per pod the cache knows; removed when the pod is gone
# (see forget_pod), so the series count follows the live pod count.
pod_health_score = Gauge("pod_health_score", "Pod health score (0-100)", ["namespace", "pod"])

pods_monitored = Gauge("kubemedic_pods_monitored", "Pods in the watch-backed cache")

# issue_type: the closed set policies.diagnosis.IssueType (about twenty values).
unhealthy_pods = Gauge("kubemedic_unhealthy_pods", "Unhealthy pods by issue type", ["issue_type"])
issues_detected_total = Counter(
    "kubemedic_issues_detected_total", "Issues found by diagnoses", ["issue_type"]
)

# check: the named safety checks of the policies engine (a closed set).
safety_rejections_total = Counter(
    "kubemedic_safety_rejections_total", "Writes refused by a safety check", ["check"]
)
# scope: global / workload / cooldown.
rate_limited_total = Counter(
    "kubemedic_rate_limited_total", "Writes refused by a rate limit", ["scope"]
)
approvals_pending = Gauge("kubemedic_approvals_pending", "Approvals waiting for a human")
approval_oldest_pending_seconds = Gauge(
    "kubemedic_approval_oldest_pending_seconds", "Age of the oldest pending approval"
)

# verb: the HTTP verbs the gateway sends (a handful); resource: the few resources it touches
# (pods, pods/log, events, replicasets, deployments, nodes, podmetrics...); code: HTTP status
# class of answers the API server can give (a few dozen at most).
k8s_api_requests_total = Counter(
    "kubemedic_k8s_api_requests_total",
    "Requests sent to the Kubernetes API",
    ["verb", "resource", "code"],
)
# reason: the gateway's typed error classes (NotFound, Conflict, Forbidden, ...).
k8s_api_errors_total = Counter(
    "kubemedic_k8s_api_errors_total", "Kubernetes API errors by class", ["verb", "reason"]
)
# tool: the six MCP tools; outcome: ok or an error code from the closed set in tools/results.
tool_calls_total = Counter("kubemedic_tool_calls_total", "MCP tool calls", ["tool", "outcome"])
# source: rules (a caller asked for an action the rules do not allow) or diagnosis (forged).
vetoes_total = Counter("kubemedic_vetoes_total", "Requested actions refused", ["source"])

_lock = threading.Lock()
_scored_pods: set[tuple[str, str]] = set()


def set_pod_health(namespace: str, pod: str, score: float) -> None:
    with _lock:
        _scored_pods.add((namespace, pod))
        pod_health_score.labels(namespace=namespace, pod=pod).set(score)


def forget_pod(namespace: str, pod: str) -> None:
    """The pod is gone: remove its series so dead pods do not linger on dashboards."""
    with _lock:
        if (namespace, pod) in _scored_pods:
            _scored_pods.discard((namespace, pod))
            pod_health_score.remove(namespace, pod)


def scored_pods() -> set[tuple[str, str]]:
    with _lock:
        return set(_scored_pods)


# -- right-sizing (docs/rightsizing.md) ------------------------------------------------------
# namespace/workload/container: one series per workload's container (workload is "Kind/name",
# never a pod: rollouts and restarts do not add series), only for containers with enough usage
# data, at most MAX_RIGHTSIZING_CONTAINERS of them (the largest differences first); a container
# whose workload is gone (or that has no data any more) is removed at the next update.
_RIGHTSIZING_LABELS = ["namespace", "workload", "container"]
MAX_RIGHTSIZING_CONTAINERS = 1000
rightsizing_requested_bytes = Gauge(
    "kubemedic_rightsizing_requested_bytes",
    "Memory request of the container now (per replica)",
    _RIGHTSIZING_LABELS,
)
rightsizing_recommended_bytes = Gauge(
    "kubemedic_rightsizing_recommended_bytes",
    "Recommended memory request (observed p95 plus the safety margin, per replica)",
    _RIGHTSIZING_LABELS,
)
rightsizing_freed_bytes = Gauge(
    "kubemedic_rightsizing_freed_bytes",
    "Memory requests the recommendation frees over all replicas (negative: needed)",
    _RIGHTSIZING_LABELS,
)
rightsizing_requested_millicores = Gauge(
    "kubemedic_rightsizing_requested_millicores",
    "CPU request of the container now (per replica)",
    _RIGHTSIZING_LABELS,
)
rightsizing_recommended_millicores = Gauge(
    "kubemedic_rightsizing_recommended_millicores",
    "Recommended CPU request (observed p95 plus the safety margin, per replica)",
    _RIGHTSIZING_LABELS,
)
rightsizing_freed_millicores = Gauge(
    "kubemedic_rightsizing_freed_millicores",
    "CPU requests the recommendation frees over all replicas (negative: needed)",
    _RIGHTSIZING_LABELS,
)
# verdict: the closed set over_provisioned / under_provisioned / fits / not_enough_data.
rightsizing_containers = Gauge(
    "kubemedic_rightsizing_containers", "Workload containers by right-sizing verdict", ["verdict"]
)

# Leader election (`kubemedic watch --leader-elect`); the alert KubemedicNoLeader sums it.
leader = Gauge("kubemedic_leader", "1 while this replica holds the leader Lease, else 0")
leader_transitions_total = Counter(
    "kubemedic_leader_transitions_total",
    "Times this replica became leader or stopped being leader",
)
_RIGHTSIZING_GAUGES = (
    rightsizing_requested_bytes,
    rightsizing_recommended_bytes,
    rightsizing_freed_bytes,
    rightsizing_requested_millicores,
    rightsizing_recommended_millicores,
    rightsizing_freed_millicores,
)
_rightsized: set[tuple[str, str, str]] = set()


def set_rightsizing(
    rows: list[tuple[tuple[str, str, str], tuple[float, float, float, float, float, float]]],
    by_verdict: dict[str, int],
) -> None:
    """Replace the right-sizing series: rows of ((namespace, workload, container), (requested,
    recommended, freed bytes, requested, recommended, freed millicores)); at most
    MAX_RIGHTSIZING_CONTAINERS rows are kept (the caller orders them, largest first)."""
    rows = rows[:MAX_RIGHTSIZING_CONTAINERS]
    with _lock:
        keep = {labels for labels, _ in rows}
        for labels in _rightsized - keep:
            for gauge in _RIGHTSIZING_GAUGES:
                gauge.remove(*labels)
        for labels, values in rows:
            for gauge, value in zip(_RIGHTSIZING_GAUGES, values, strict=True):
                gauge.labels(*labels).set(value)
        _rightsized.clear()
        _rightsized.update(keep)
        for verdict, count in by_verdict.items():
            rightsizing_containers.labels(verdict=verdict).set(count)
