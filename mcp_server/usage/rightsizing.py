"""Right-sizing from the usage sampler: the workloads' containers, their requests now and what
they used over the window, through the pure recommendations of `policies.rightsizing`.

The pods come from the pod cache (or one list when the server runs without it), each mapped to
its workload from its own controller reference: a ReplicaSet whose name is
`<deployment>-<pod-template-hash>` (the pod's `pod-template-hash` label) is its Deployment's, as
the Deployment controller names them; StatefulSets, DaemonSets, Jobs and bare ReplicaSets are
themselves; a pod without a controller is its own workload (`Pod/<name>`). No other request.

`RightsizingPublisher` refreshes the `kubemedic_rightsizing_*` gauges after a sampling round,
at most once a minute of the server's clock.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from mcp_server import metrics
from mcp_server.diagnostics.owners import TEMPLATE_HASH_LABEL, controller_ref
from mcp_server.diagnostics.resources import cpu_millicores, memory_bytes
from mcp_server.usage.sampler import UsageSampler
from policies import Policy
from policies.rightsizing import (
    ContainerUsage,
    Observation,
    Recommendation,
    Replica,
    Totals,
    recommend,
    totals,
)

log = logging.getLogger(__name__)

JSON = dict[str, Any]
PUBLISH_EVERY_SECONDS = 60.0
NO_SAMPLER = (
    "no usage sampler: the server runs without its pod cache or with "
    "KUBEMEDIC_USAGE_SAMPLE_SECONDS=0"
)
_DONE_PHASES = {"Succeeded", "Failed"}


def workload_of(pod: JSON) -> tuple[str, str]:
    """(kind, name) of the pod's top controller as far as the pod itself tells."""
    meta = pod.get("metadata") or {}
    ref = controller_ref(pod)
    if ref is None:
        return "Pod", str(meta.get("name") or "")
    kind, name = str(ref.get("kind") or ""), str(ref.get("name") or "")
    if kind == "ReplicaSet":
        template_hash = (meta.get("labels") or {}).get(TEMPLATE_HASH_LABEL)
        suffix = f"-{template_hash}" if template_hash else None
        if suffix and name.endswith(suffix) and len(name) > len(suffix):
            return "Deployment", name[: -len(suffix)]
    return kind, name


def _live(pod: JSON) -> bool:
    meta = pod.get("metadata") or {}
    phase = (pod.get("status") or {}).get("phase")
    return not meta.get("deletionTimestamp") and phase not in _DONE_PHASES


def _replica(pod_name: str, container: JSON) -> Replica:
    resources = container.get("resources") or {}
    requests = resources.get("requests") or {}
    limits = resources.get("limits") or {}
    return Replica(
        pod_name,
        memory_request=memory_bytes(requests.get("memory")),
        memory_limit=memory_bytes(limits.get("memory")),
        cpu_request=cpu_millicores(requests.get("cpu")),
        cpu_limit=cpu_millicores(limits.get("cpu")),
    )


def gather(
    pods: Iterable[JSON], usage: UsageSampler | None, namespace: str | None = None
) -> list[ContainerUsage]:
    """Every live pod's containers grouped by (namespace, workload, container), with the
    samples the sampler holds for those pods (current uid)."""
    Group = tuple[str, str, str, str]
    replicas: dict[Group, list[Replica]] = defaultdict(list)
    by_pod: dict[tuple[str, str, str], Group] = {}  # (ns, pod uid, container) -> group
    for pod in pods:
        meta = pod.get("metadata") or {}
        ns = str(meta.get("namespace") or "")
        if (namespace is not None and ns != namespace) or not _live(pod):
            continue
        kind, name = workload_of(pod)
        pod_name, uid = str(meta.get("name") or ""), str(meta.get("uid") or "")
        for c in (pod.get("spec") or {}).get("containers") or []:
            if not isinstance(c, dict) or not c.get("name"):
                continue
            group = (ns, kind, name, str(c["name"]))
            replicas[group].append(_replica(pod_name, c))
            by_pod[(ns, uid, str(c["name"]))] = group
    samples: dict[Group, list[Observation]] = defaultdict(list)
    if usage is not None:
        for key in usage.keys(namespace):
            found = by_pod.get((key.namespace, key.pod_uid, key.container))
            if found is None:
                continue
            samples[found].extend(
                Observation(
                    s.at, s.memory_bytes, s.cpu_millicores, f"{key.pod_uid}#{s.restart_count}"
                )
                for s in usage.samples(key)
            )
    note = None if usage is not None else NO_SAMPLER
    return [
        ContainerUsage(
            ns,
            kind,
            name,
            container,
            tuple(sorted(replicas[(ns, kind, name, container)], key=lambda r: r.pod)),
            tuple(samples.get((ns, kind, name, container), ())),
            note,
        )
        for ns, kind, name, container in sorted(replicas)
    ]


@dataclass
class Report:
    recommendations: list[Recommendation]
    totals: Totals
    sampler: JSON = field(default_factory=dict)


def sampler_facts(usage: UsageSampler | None) -> JSON:
    if usage is None:
        return {"running": False, "message": NO_SAMPLER}
    message = None
    if usage.available is False:
        message = f"metrics.k8s.io does not answer: {usage.last_error}"
    elif usage.available is None:
        message = "the sampler has not taken its first round yet"
    return {
        "running": True,
        "available": usage.available,
        "interval_seconds": usage.interval_seconds,
        "window_seconds": usage.window_seconds,
        "rounds": usage.rounds,
        "message": message,
    }


def build_report(
    pods: Iterable[JSON],
    usage: UsageSampler | None,
    policy: Policy,
    namespace: str | None = None,
) -> Report:
    recs = [recommend(u, policy.rightsizing, policy.memory) for u in gather(pods, usage, namespace)]
    return Report(recs, totals(recs), sampler_facts(usage))


def _magnitude(rec: Recommendation) -> tuple[float, float]:
    return (abs(rec.memory.freed), abs(rec.cpu.freed))


def publish(report: Report) -> None:
    """The gauges from a cluster-wide report (containers with enough data only)."""
    with_data = sorted(
        (r for r in report.recommendations if r.has_data), key=_magnitude, reverse=True
    )
    rows = []
    for rec in with_data:
        mem, cpu = rec.memory, rec.cpu
        rows.append(
            (
                (rec.namespace, rec.workload, rec.container),
                (
                    float(mem.request or 0),
                    float(mem.recommended_request or 0),
                    float(mem.freed),
                    float(cpu.request or 0),
                    float(cpu.recommended_request or 0),
                    float(cpu.freed),
                ),
            )
        )
    metrics.set_rightsizing(rows, dict(report.totals.by_verdict))


class RightsizingPublisher:
    """A sampler listener: refresh the gauges at most every `every_seconds` of `monotonic`."""

    def __init__(
        self,
        pods: Callable[[], list[JSON]],
        usage: UsageSampler,
        policy: Callable[[], Policy],
        *,
        monotonic: Callable[[], float],
        every_seconds: float = PUBLISH_EVERY_SECONDS,
    ) -> None:
        self._pods = pods
        self._usage = usage
        self._policy = policy
        self._monotonic = monotonic
        self._every = every_seconds
        self._last: float | None = None

    def __call__(self) -> None:
        now = self._monotonic()
        if self._last is not None and now - self._last < self._every:
            return
        self._last = now
        publish(build_report(self._pods(), self._usage, self._policy()))
