"""Resource requests, limits and live usage per container (behind `check_resource_usage`).

Quantities are parsed and formatted by `kubemedic_quantity`, the product's one quantity
module (re-exported here for the diagnostics' callers). When metrics.k8s.io is not served,
usage stays None and the report says so: a missing number is never shown as zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, Field

# The `x as x` names are re-exported: the diagnostics' callers import them from here.
from kubemedic_quantity import cpu_millicores as cpu_millicores
from kubemedic_quantity import format_cpu as _format_cpu
from kubemedic_quantity import format_memory_rounded
from kubemedic_quantity import memory_bytes as memory_bytes
from kubemedic_quantity import parse_quantity_or_none as parse_quantity_or_none
from policies.diagnosis import ContainerResources, Issue, IssueType, MemoryTrendInfo
from policies.memory_trend import MemorySample, last_full_trend, predict_oom

from ._obj import Obj, lst, m, s

NEAR_LIMIT_PERCENT = 90.0
METRICS_UNAVAILABLE = (
    "Resource usage is unavailable: the metrics API (metrics.k8s.io) is not served in this "
    "cluster, or has no sample for this pod yet. Requests and limits are shown; usage is not."
)


def format_cpu(millicores: int | None) -> str | None:
    return None if millicores is None else _format_cpu(millicores)


def format_memory(value: int | None) -> str | None:
    """As `kubectl top` shows memory (rounded, for people); None stays None."""
    return None if value is None else format_memory_rounded(value)


def _percent(usage: int | None, of: int | None) -> float | None:
    if usage is None or not of:
        return None
    return round(100.0 * usage / of, 1)


class Measure(BaseModel):
    """One resource of one container, formatted as `kubectl top` would (Mi, m)."""

    usage: str | None = None
    request: str | None = None
    limit: str | None = None
    percentage_of_limit: float | None = None
    percentage_of_request: float | None = None


class ContainerUsage(BaseModel):
    name: str
    cpu: Measure = Field(default_factory=Measure)
    memory: Measure = Field(default_factory=Measure)
    issues: list[str] = Field(default_factory=list)


class ResourceReport(BaseModel):
    """The `check_resource_usage` result (the tool adds success, pod_name and namespace)."""

    metrics_available: bool = False
    message: str | None = None
    containers: list[ContainerUsage] = Field(default_factory=list)
    recommendations: list[str] = Field(default_factory=list)


def _usage_by_container(pod_metrics: Obj | None) -> dict[str, Obj]:
    if not pod_metrics:
        return {}
    return {name: m(c, "usage") for c in lst(pod_metrics, "containers") if (name := s(c, "name"))}


def container_resources(pod: Obj, pod_metrics: Obj | None = None) -> list[ContainerResources]:
    """Requests, limits and (when metrics are given) usage of the pod's app containers."""
    usage = _usage_by_container(pod_metrics)
    out: list[ContainerResources] = []
    for c in lst(pod, "spec", "containers"):
        name = s(c, "name")
        if not name:
            continue
        requests = m(c, "resources", "requests")
        limits = m(c, "resources", "limits")
        used = usage.get(name, {})
        out.append(
            ContainerResources(
                name=name,
                memory_request_bytes=memory_bytes(requests.get("memory")),
                memory_limit_bytes=memory_bytes(limits.get("memory")),
                memory_usage_bytes=memory_bytes(used.get("memory")) if used else None,
                cpu_request_millicores=cpu_millicores(requests.get("cpu")),
                cpu_limit_millicores=cpu_millicores(limits.get("cpu")),
                cpu_usage_millicores=cpu_millicores(used.get("cpu")) if used else None,
            )
        )
    return out


def _container_findings(r: ContainerResources) -> tuple[list[str], list[str], list[Issue]]:
    notes: list[str] = []
    advice: list[str] = []
    issues: list[Issue] = []
    mem_pct = _percent(r.memory_usage_bytes, r.memory_limit_bytes)
    cpu_pct = _percent(r.cpu_usage_millicores, r.cpu_limit_millicores)
    if mem_pct is not None and mem_pct >= NEAR_LIMIT_PERCENT:
        notes.append(f"Memory usage at {mem_pct:.0f}% of limit")
        advice.append(f"Increase the memory limit of {r.name}: it is close to being OOM killed")
        issues.append(
            Issue(
                severity="warning",
                type=IssueType.HIGH_MEMORY_USAGE,
                container=r.name,
                message=f"container {r.name} uses {format_memory(r.memory_usage_bytes)} of its "
                f"{format_memory(r.memory_limit_bytes)} memory limit ({mem_pct:.0f}%)",
            )
        )
    if cpu_pct is not None and cpu_pct >= NEAR_LIMIT_PERCENT:
        notes.append(f"CPU usage at {cpu_pct:.0f}% of limit")
        advice.append(f"Increase the CPU limit of {r.name}: it is being throttled")
        issues.append(
            Issue(
                severity="warning",
                type=IssueType.HIGH_CPU_USAGE,
                container=r.name,
                message=f"container {r.name} uses {format_cpu(r.cpu_usage_millicores)} of its "
                f"{format_cpu(r.cpu_limit_millicores)} CPU limit ({cpu_pct:.0f}%)",
            )
        )
    if (
        r.cpu_usage_millicores is not None
        and r.cpu_request_millicores
        and r.cpu_usage_millicores > r.cpu_request_millicores
    ):
        notes.append("CPU usage above request")
        advice.append(f"Consider increasing the CPU request of {r.name}")
    if (
        r.memory_usage_bytes is not None
        and r.memory_request_bytes
        and r.memory_usage_bytes > r.memory_request_bytes
    ):
        notes.append("Memory usage above request")
        advice.append(
            f"Consider increasing the memory request of {r.name} (it may be evicted first "
            "under node memory pressure)"
        )
    if r.memory_limit_bytes is None:
        notes.append("No memory limit set")
        advice.append(f"Set a memory limit on {r.name}")
    if r.cpu_limit_millicores is None:
        notes.append("No CPU limit set")
    if r.memory_request_bytes is None and r.cpu_request_millicores is None:
        notes.append("No resource requests set (BestEffort scheduling)")
        advice.append(f"Set CPU and memory requests on {r.name}")
    return notes, advice, issues


def usage_issues(resources: list[ContainerResources]) -> list[Issue]:
    """HighMemoryUsage / HighCPUUsage issues (needs usage: empty without metrics)."""
    out: list[Issue] = []
    for r in resources:
        out.extend(_container_findings(r)[2])
    return out


def resource_report(
    pod: Obj, pod_metrics: Obj | None, *, metrics_available: bool
) -> ResourceReport:
    """Per-container cpu/memory usage, request, limit and percentages, with findings."""
    resources = container_resources(pod, pod_metrics if metrics_available else None)
    have_usage = metrics_available and bool(pod_metrics)
    report = ResourceReport(metrics_available=have_usage)
    if not have_usage:
        report.message = METRICS_UNAVAILABLE
    for r in resources:
        notes, advice, _ = _container_findings(r)
        report.containers.append(
            ContainerUsage(
                name=r.name,
                cpu=Measure(
                    usage=format_cpu(r.cpu_usage_millicores),
                    request=format_cpu(r.cpu_request_millicores),
                    limit=format_cpu(r.cpu_limit_millicores),
                    percentage_of_limit=_percent(r.cpu_usage_millicores, r.cpu_limit_millicores),
                    percentage_of_request=_percent(
                        r.cpu_usage_millicores, r.cpu_request_millicores
                    ),
                ),
                memory=Measure(
                    usage=format_memory(r.memory_usage_bytes),
                    request=format_memory(r.memory_request_bytes),
                    limit=format_memory(r.memory_limit_bytes),
                    percentage_of_limit=_percent(r.memory_usage_bytes, r.memory_limit_bytes),
                    percentage_of_request=_percent(r.memory_usage_bytes, r.memory_request_bytes),
                ),
                issues=notes,
            )
        )
        for line in advice:
            if line not in report.recommendations:
                report.recommendations.append(line)
    if not have_usage:
        report.recommendations.append(
            "Install metrics-server to compare live usage with requests and limits"
        )
    return report


# The trend quoted for a container needs at least this many samples of one run.
TREND_MIN_SAMPLES = 4


def apply_memory_history(
    resources: list[ContainerResources],
    history: Mapping[str, Sequence[MemorySample]] | None,
    *,
    horizon_minutes: float,
) -> list[Issue]:
    """Fill each container's observed peak and memory trend from the server's usage samples
    (plain data: container -> samples of this pod, oldest first), and return a PredictedOOM
    issue for each container whose working set reaches its limit within the horizon."""
    if not history:
        return []
    issues: list[Issue] = []
    for r in resources:
        samples = list(history.get(r.name) or ())
        if not samples:
            continue
        r.memory_peak_bytes = max(
            r.memory_peak_bytes or 0, max(sample.usage_bytes for sample in samples)
        )
        predicted = predict_oom(samples, horizon_minutes=horizon_minutes)
        found = predicted or last_full_trend(
            samples, horizon_minutes=horizon_minutes, min_samples=TREND_MIN_SAMPLES
        )
        if found is None:
            continue
        r.memory_trend = MemoryTrendInfo.model_validate(found.to_dict())
        if predicted is None or predicted.minutes_to_limit is None:
            continue
        trend = r.memory_trend
        issues.append(
            Issue.model_validate(
                {
                    "severity": "warning",
                    "type": IssueType.PREDICTED_OOM,
                    "container": r.name,
                    "message": (
                        f"container {r.name} is predicted to be OOM-killed in "
                        f"~{predicted.minutes_to_limit:.0f} min: working set "
                        f"{format_memory(predicted.usage_bytes)} of its "
                        f"{format_memory(predicted.limit_bytes)} limit, growing "
                        f"~{trend.rate_mib_per_minute:.1f}Mi/min ({trend.shape}, "
                        f"{trend.samples} samples over {trend.span_minutes:.0f} min)"
                    ),
                    # Extra fields (the spec allows them), for people and reports.
                    "minutes_to_limit": trend.minutes_to_limit,
                    "trend": trend.model_dump(mode="json"),
                }
            )
        )
    return issues


def pod_requests(pod: Obj) -> tuple[int, int]:
    """The pod's effective scheduling request (millicores, bytes), as the scheduler sums it.

    max(sum of app containers + restartable init sidecars, largest one-shot init container),
    plus the pod overhead.
    """

    def req(c: Obj) -> tuple[int, int]:
        r = m(c, "resources", "requests")
        # An unset request defaults to the limit (the API server does this on create).
        lim = m(c, "resources", "limits")
        cpu = cpu_millicores(r.get("cpu", lim.get("cpu"))) or 0
        mem = memory_bytes(r.get("memory", lim.get("memory"))) or 0
        return cpu, mem

    cpu = mem = 0
    for c in lst(pod, "spec", "containers"):
        c_cpu, c_mem = req(c)
        cpu += c_cpu
        mem += c_mem
    init_cpu = init_mem = 0
    sidecar_cpu = sidecar_mem = 0
    for c in lst(pod, "spec", "initContainers"):
        c_cpu, c_mem = req(c)
        if s(c, "restartPolicy") == "Always":
            sidecar_cpu += c_cpu
            sidecar_mem += c_mem
        else:
            init_cpu = max(init_cpu, sidecar_cpu + c_cpu)
            init_mem = max(init_mem, sidecar_mem + c_mem)
    cpu = max(cpu + sidecar_cpu, init_cpu)
    mem = max(mem + sidecar_mem, init_mem)
    overhead = m(pod, "spec", "overhead")
    cpu += cpu_millicores(overhead.get("cpu")) or 0
    mem += memory_bytes(overhead.get("memory")) or 0
    return cpu, mem
