"""Right-sizing: requests and limits against the usage observed over the sampler's window.

Pure functions, the same for the MCP tool, the metrics and the CLI: what each replica of a
workload's container asks for now, the usage samples of all its pods, and the policy
(`Policy.rightsizing`, `Policy.memory`) in; a recommendation and a verdict out. Nothing here
reads a clock or the cluster. The rules, VPA-style (docs/rightsizing.md):

- memory request = p95 x (1 + safety_margin), rounded up to a whole Mi;
- memory limit = peak x (1 + safety_margin), and at least the VPA OOM rule's
  max(peak + oom_min_bump, peak x oom_bump_ratio) (a 30-minute window has not seen every
  spike, an OOM kill costs far more than an unused limit, and limits reserve nothing on the
  node), and at least the recommended request;
- CPU request = p95 x (1 + safety_margin), rounded up to 5m (10m from 100m);
- CPU limit: not recommended (a CPU limit throttles rather than protects); kept as it is, unless
  it is below the recommended request (a request above the limit is invalid), then raised to it;
- never below `min_cpu_millicores` / `min_memory`.

Verdict per resource and per container: `under_provisioned` (no request, the request below the
observed p95, or memory near its limit / restarted), `over_provisioned` (the request above
`over_provisioned_ratio` x the recommendation and by more than 16Mi / 10m), `fits`, or
`not_enough_data` (fewer than `min_samples`, or a span shorter than `min_span_seconds`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import kubemedic_quantity as quantity
from kubemedic_quantity import MI
from policies.memory_trend import percentile
from policies.policy import MemoryPolicy, RightsizingPolicy
from policies.rules import new_memory_limit

UNDER = "under_provisioned"
OVER = "over_provisioned"
FITS = "fits"
NOT_ENOUGH_DATA = "not_enough_data"
VERDICTS = (UNDER, OVER, FITS, NOT_ENOUGH_DATA)

# The percentile requests are sized from (VPA's recommender targets p90 for CPU; p95 is a little
# more generous and the same for both resources).
REQUEST_PERCENTILE = 95.0
# A peak at this share of the memory limit: the limit may be what stopped it.
NEAR_LIMIT = 0.9
# Smaller differences are noise, not over-provisioning.
MIN_OVER_BYTES = 16 * MI
MIN_OVER_MILLICORES = 10


# -- rounding ---------------------------------------------------------------------------------


def round_memory_up(value: float) -> int:
    """Bytes rounded up to a whole Mi."""
    return max(0, math.ceil(value / MI)) * MI


def round_cpu_up(value: float) -> int:
    """Millicores rounded up to a multiple of 5m (below 100m) or 10m."""
    step = 5 if value < 100 else 10
    return max(0, math.ceil(round(value, 6) / step)) * step


def format_memory(value: int | None) -> str:
    """Memory for the report: whole `Gi` or `Mi` (`96Mi`, `2Gi`, `1536Mi`), else `Mi` with one
    decimal; `-` for none."""
    if value is None:
        return "-"
    if value % MI:
        return f"{value / MI:.1f}Mi"
    return quantity.format_memory(value) if value else "0Mi"


def format_cpu(value: int | None) -> str:
    return "-" if value is None else quantity.format_cpu(value)


# -- inputs -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Replica:
    """One pod of the workload, and what its container asks for now (None: not set)."""

    pod: str
    memory_request: int | None = None
    memory_limit: int | None = None
    cpu_request: int | None = None
    cpu_limit: int | None = None


@dataclass(frozen=True, slots=True)
class Observation:
    at: float
    memory_bytes: int
    cpu_millicores: int
    instance: str = ""  # the container instance (pod uid + restart count): restarts split them


@dataclass(frozen=True, slots=True)
class ContainerUsage:
    """A workload's container: every live replica, and the samples of all its pods."""

    namespace: str
    workload_kind: str  # Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, Pod, ...
    workload_name: str
    container: str
    replicas: tuple[Replica, ...]
    samples: tuple[Observation, ...] = ()
    note: str | None = None  # why there is no data, when the caller knows (no sampler, ...)

    @property
    def workload(self) -> str:
        return f"{self.workload_kind}/{self.workload_name}"


# -- outputs ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Observed:
    p50: float | None = None
    p95: float | None = None
    max: float | None = None


@dataclass(frozen=True, slots=True)
class ResourceAdvice:
    """One resource of one container: now, observed, recommended, and the difference."""

    unit: str  # bytes / millicores
    request: int | None  # now (the most common value among the replicas)
    limit: int | None
    observed: Observed
    recommended_request: int | None
    recommended_limit: int | None  # CPU: the current limit (raised only if below the request)
    freed: int  # sum over the replicas of (request now - recommended); negative: needed
    verdict: str
    reasons: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        fmt = format_memory if self.unit == "bytes" else format_cpu
        return {
            "unit": self.unit,
            "request": self.request,
            "limit": self.limit,
            "p50": _int(self.observed.p50),
            "p95": _int(self.observed.p95),
            "max": _int(self.observed.max),
            "recommended_request": self.recommended_request,
            "recommended_limit": self.recommended_limit,
            "freed": self.freed,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "quantities": {
                "request": fmt(self.request),
                "limit": fmt(self.limit),
                "p95": fmt(_int(self.observed.p95)),
                "max": fmt(_int(self.observed.max)),
                "recommended_request": fmt(self.recommended_request),
                "recommended_limit": fmt(self.recommended_limit),
                "freed": ("-" if self.freed < 0 else "") + fmt(abs(self.freed)),
            },
        }


@dataclass(frozen=True, slots=True)
class Recommendation:
    namespace: str
    workload_kind: str
    workload_name: str
    container: str
    replicas: int
    pods: tuple[str, ...]
    samples: int
    span_seconds: float
    restarts_seen: int  # container instances beyond one per pod within the window
    verdict: str
    reasons: tuple[str, ...]
    memory: ResourceAdvice
    cpu: ResourceAdvice

    @property
    def workload(self) -> str:
        return f"{self.workload_kind}/{self.workload_name}"

    @property
    def has_data(self) -> bool:
        return self.verdict != NOT_ENOUGH_DATA

    def suggested_command(self) -> str | None:
        """The `kubectl set resources` that applies it (over / under only)."""
        if self.verdict not in (OVER, UNDER) or self.workload_kind not in _SETTABLE:
            return None
        mem, cpu = self.memory, self.cpu
        requests = [f"memory={format_memory(mem.recommended_request)}"]
        requests.append(f"cpu={format_cpu(cpu.recommended_request)}")
        limits = [f"memory={format_memory(mem.recommended_limit)}"]
        if cpu.recommended_limit is not None and cpu.recommended_limit != cpu.limit:
            limits.append(f"cpu={format_cpu(cpu.recommended_limit)}")
        return (
            f"kubectl -n {self.namespace} set resources {self.workload_kind.lower()}/"
            f"{self.workload_name} -c {self.container} --requests={','.join(requests)} "
            f"--limits={','.join(limits)}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "workload": self.workload,
            "workload_kind": self.workload_kind,
            "workload_name": self.workload_name,
            "container": self.container,
            "replicas": self.replicas,
            "pods": list(self.pods),
            "samples": self.samples,
            "span_seconds": round(self.span_seconds, 1),
            "restarts_seen": self.restarts_seen,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "memory": self.memory.to_dict(),
            "cpu": self.cpu.to_dict(),
            "suggested_command": self.suggested_command(),
        }


_SETTABLE = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController"}


def _int(value: float | None) -> int | None:
    return None if value is None else int(round(value))


def _mode(values: Iterable[int | None]) -> int | None:
    counted = Counter(values)
    if not counted:
        return None
    # The most common value; a tie goes to the larger (the more careful reading).
    return max(counted.items(), key=lambda kv: (kv[1], kv[0] if kv[0] is not None else -1))[0]


def _observed(values: Sequence[float]) -> Observed:
    if not values:
        return Observed()
    return Observed(
        percentile(values, 50.0), percentile(values, REQUEST_PERCENTILE), float(max(values))
    )


# -- the recommendation -----------------------------------------------------------------------


def recommend_memory(
    observed: Observed, policy: RightsizingPolicy, memory: MemoryPolicy
) -> tuple[int, int]:
    """(request, limit) in bytes from the observed p95 and peak."""
    assert observed.p95 is not None and observed.max is not None
    margin = 1.0 + policy.safety_margin
    request = max(round_memory_up(observed.p95 * margin), round_memory_up(policy.min_memory))
    peak = math.ceil(observed.max)
    oom_floor = new_memory_limit(peak, memory.oom_bump_ratio, memory.oom_min_bump)
    limit = max(round_memory_up(observed.max * margin), oom_floor, request)
    return request, limit


def recommend_cpu(observed: Observed, policy: RightsizingPolicy) -> int:
    """The CPU request in millicores from the observed p95."""
    assert observed.p95 is not None
    wanted = observed.p95 * (1.0 + policy.safety_margin)
    return max(round_cpu_up(wanted), round_cpu_up(policy.min_cpu_millicores))


def _freed(replicas: Sequence[Replica], attr: str, recommended: int) -> int:
    return sum((getattr(r, attr) or 0) - recommended for r in replicas)


def _verdict(reasons_under: list[str], reasons_over: list[str]) -> str:
    if reasons_under:
        return UNDER
    if reasons_over:
        return OVER
    return FITS


def _no_data(usage: ContainerUsage, why: str, samples: int, span: float) -> Recommendation:
    def advice(unit: str, request: int | None, limit: int | None) -> ResourceAdvice:
        return ResourceAdvice(
            unit, request, limit, Observed(), None, None, 0, NOT_ENOUGH_DATA, (why,)
        )

    replicas = usage.replicas
    return Recommendation(
        usage.namespace,
        usage.workload_kind,
        usage.workload_name,
        usage.container,
        len(replicas),
        tuple(r.pod for r in replicas),
        samples,
        span,
        0,
        NOT_ENOUGH_DATA,
        (why,),
        advice(
            "bytes",
            _mode(r.memory_request for r in replicas),
            _mode(r.memory_limit for r in replicas),
        ),
        advice(
            "millicores",
            _mode(r.cpu_request for r in replicas),
            _mode(r.cpu_limit for r in replicas),
        ),
    )


def _memory_reasons(
    request_now: int | None,
    observed: Observed,
    limits: list[int],
    restarts_seen: int,
    recommended: int,
    policy: RightsizingPolicy,
) -> tuple[list[str], list[str]]:
    """(under, over) reasons for the memory request and limit."""
    assert observed.p95 is not None and observed.max is not None
    near_limit = bool(limits) and observed.max >= NEAR_LIMIT * min(limits)
    under: list[str] = []
    over: list[str] = []
    if request_now is None:
        under.append("no memory request")
    elif request_now < observed.p95:
        under.append(
            f"memory request {format_memory(request_now)} below the observed p95 "
            f"{format_memory(round_memory_up(observed.p95))}"
        )
    if near_limit:
        under.append(
            f"memory peak {format_memory(round_memory_up(observed.max))} at "
            f"{observed.max / min(limits):.0%} of the limit {format_memory(min(limits))}"
        )
    if restarts_seen:
        under.append(f"{restarts_seen} container restart(s) within the window")
    if (
        not under
        and request_now is not None
        and request_now > policy.over_provisioned_ratio * recommended
        and request_now - recommended >= MIN_OVER_BYTES
    ):
        over.append(
            f"memory request {format_memory(request_now)} is "
            f"{request_now / recommended:.1f}x the recommended {format_memory(recommended)}"
        )
    return under, over


def _memory_advice(
    replicas: Sequence[Replica],
    observed: Observed,
    restarts_seen: int,
    policy: RightsizingPolicy,
    memory: MemoryPolicy,
) -> ResourceAdvice:
    request_now = _mode(r.memory_request for r in replicas)
    limit_now = _mode(r.memory_limit for r in replicas)
    limits = [r.memory_limit for r in replicas if r.memory_limit]
    request, limit = recommend_memory(observed, policy, memory)
    under, over = _memory_reasons(request_now, observed, limits, restarts_seen, request, policy)
    return ResourceAdvice(
        "bytes",
        request_now,
        limit_now,
        observed,
        request,
        limit,
        _freed(replicas, "memory_request", request),
        _verdict(under, over),
        tuple(under + over),
    )


def _cpu_reasons(
    request_now: int | None, observed: Observed, recommended: int, policy: RightsizingPolicy
) -> tuple[list[str], list[str]]:
    """(under, over) reasons for the CPU request."""
    assert observed.p95 is not None
    under: list[str] = []
    over: list[str] = []
    if request_now is None:
        under.append("no CPU request")
    elif request_now < observed.p95:
        under.append(
            f"CPU request {format_cpu(request_now)} below the observed p95 "
            f"{format_cpu(round_cpu_up(observed.p95))}"
        )
    elif (
        request_now > policy.over_provisioned_ratio * recommended
        and request_now - recommended >= MIN_OVER_MILLICORES
    ):
        over.append(
            f"CPU request {format_cpu(request_now)} is {request_now / recommended:.1f}x "
            f"the recommended {format_cpu(recommended)}"
        )
    return under, over


def _cpu_advice(
    replicas: Sequence[Replica], observed: Observed, policy: RightsizingPolicy
) -> ResourceAdvice:
    request_now = _mode(r.cpu_request for r in replicas)
    limit_now = _mode(r.cpu_limit for r in replicas)
    request = recommend_cpu(observed, policy)
    limit = limit_now
    notes: list[str] = []
    if limit is not None and limit < request:
        notes.append(
            f"CPU limit {format_cpu(limit)} below the recommended request; raise it to "
            f"{format_cpu(request)}"
        )
        limit = request
    under, over = _cpu_reasons(request_now, observed, request, policy)
    return ResourceAdvice(
        "millicores",
        request_now,
        limit_now,
        observed,
        request,
        limit,
        _freed(replicas, "cpu_request", request),
        _verdict(under, over),
        tuple(under + over + notes),
    )


def _overall_verdict(*advice: ResourceAdvice) -> str:
    verdicts = {a.verdict for a in advice}
    return UNDER if UNDER in verdicts else OVER if OVER in verdicts else FITS


def _not_enough_samples(
    usage: ContainerUsage, policy: RightsizingPolicy, samples: Sequence[Observation], span: float
) -> Recommendation | None:
    if usage.note and not samples:
        return _no_data(usage, usage.note, 0, 0.0)
    if len(samples) < policy.min_samples or span < policy.min_span_seconds:
        why = (
            f"not enough data: {len(samples)} sample(s) over {span:.0f}s "
            f"(needs {policy.min_samples} over {policy.min_span_seconds:.0f}s)"
        )
        return _no_data(usage, why, len(samples), span)
    return None


def recommend(
    usage: ContainerUsage, policy: RightsizingPolicy, memory: MemoryPolicy | None = None
) -> Recommendation:
    """The recommendation and verdict for one workload's container."""
    memory = memory or MemoryPolicy()
    samples = sorted(usage.samples, key=lambda s: s.at)
    span = samples[-1].at - samples[0].at if samples else 0.0
    no_data = _not_enough_samples(usage, policy, samples, span)
    if no_data is not None:
        return no_data
    replicas = usage.replicas
    instances = {s.instance for s in samples}
    pods_sampled = {s.instance.split("#", 1)[0] for s in samples}
    restarts_seen = max(0, len(instances) - len(pods_sampled))

    mem_obs = _observed([float(s.memory_bytes) for s in samples])
    cpu_obs = _observed([float(s.cpu_millicores) for s in samples])
    assert mem_obs.p95 is not None and mem_obs.max is not None and cpu_obs.p95 is not None

    memory_advice = _memory_advice(replicas, mem_obs, restarts_seen, policy, memory)
    cpu_advice = _cpu_advice(replicas, cpu_obs, policy)
    return Recommendation(
        usage.namespace,
        usage.workload_kind,
        usage.workload_name,
        usage.container,
        len(replicas),
        tuple(r.pod for r in replicas),
        len(samples),
        span,
        restarts_seen,
        _overall_verdict(memory_advice, cpu_advice),
        memory_advice.reasons + cpu_advice.reasons,
        memory_advice,
        cpu_advice,
    )


# -- totals -----------------------------------------------------------------------------------


@dataclass
class Totals:
    """Cluster-wide (or namespace-wide): what the recommendations would free or need."""

    containers: int = 0
    by_verdict: dict[str, int] = field(default_factory=lambda: dict.fromkeys(VERDICTS, 0))
    memory_freed_bytes: int = 0  # sum of the positive differences (over-provisioned)
    memory_needed_bytes: int = 0  # sum of the negative ones, as a positive number
    cpu_freed_millicores: int = 0
    cpu_needed_millicores: int = 0

    @property
    def memory_net_bytes(self) -> int:
        return self.memory_freed_bytes - self.memory_needed_bytes

    @property
    def cpu_net_millicores(self) -> int:
        return self.cpu_freed_millicores - self.cpu_needed_millicores

    def to_dict(self) -> dict[str, Any]:
        return {
            "containers": self.containers,
            "by_verdict": dict(self.by_verdict),
            "memory_freed_bytes": self.memory_freed_bytes,
            "memory_needed_bytes": self.memory_needed_bytes,
            "memory_net_bytes": self.memory_net_bytes,
            "cpu_freed_millicores": self.cpu_freed_millicores,
            "cpu_needed_millicores": self.cpu_needed_millicores,
            "cpu_net_millicores": self.cpu_net_millicores,
        }


def totals(recommendations: Iterable[Recommendation]) -> Totals:
    out = Totals()
    for rec in recommendations:
        out.containers += 1
        out.by_verdict[rec.verdict] = out.by_verdict.get(rec.verdict, 0) + 1
        if not rec.has_data:
            continue
        if rec.memory.freed >= 0:
            out.memory_freed_bytes += rec.memory.freed
        else:
            out.memory_needed_bytes -= rec.memory.freed
        if rec.cpu.freed >= 0:
            out.cpu_freed_millicores += rec.cpu.freed
        else:
            out.cpu_needed_millicores -= rec.cpu.freed
    return out
