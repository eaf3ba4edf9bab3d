"""What is wrong with one pod: the seam between the gateway's raw reads and the pure diagnostics.

The diagnostics (mcp_server.diagnostics) are pure functions over Kubernetes objects; this
module feeds them what the gateway fetched and nothing else, so tools and the executor have
one place to ask "what is wrong with this pod".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mcp_server.diagnostics.diagnose import build_diagnosis, classify_unhealthy
from mcp_server.diagnostics.kinds import add_kind_findings
from mcp_server.diagnostics.logs import LogAnalysis, analyze_log_text
from mcp_server.diagnostics.pod_status import health_score
from mcp_server.diagnostics.resources import resource_report as _resource_report
from mcp_server.gateway import DiagnosisInputs
from mcp_server.redaction import redact
from policies import Diagnosis, Policy
from policies.memory_trend import MemorySample

if TYPE_CHECKING:
    from mcp_server.usage import UsageSampler

JSON = dict[str, Any]


def diagnose_inputs(
    inputs: DiagnosisInputs,
    policy: Policy,
    memory_history: Mapping[str, Sequence[MemorySample]] | None = None,
) -> Diagnosis:
    """The diagnosis of one pod from what `diagnosis_reads.fetch_diagnosis_inputs` read, and
    the usage sampler's memory samples of the pod (container -> samples), when there are any.

    The namespaced ReplicaSet list serves twice: as the pod's owners (with the Deployment)
    and as the rollout history.
    A Job's pod has its Job (and CronJob) as owners.
    """
    current = {e.container: e.text for e in inputs.logs if e.text is not None and not e.previous}
    previous = {e.container: e.text for e in inputs.logs if e.text is not None and e.previous}
    metrics = inputs.metrics
    diagnosis = build_diagnosis(
        inputs.pod,
        events=inputs.events,
        logs_current=current or None,
        logs_previous=previous or None,
        pod_metrics=metrics.item if metrics is not None else None,
        metrics_available=bool(metrics is not None and metrics.served),
        owners=_owners(inputs),
        replicasets=inputs.replicasets,
        controller_revisions=inputs.controller_revisions,
        nodes=inputs.nodes or None,
        pdbs=inputs.pdbs,
        limit_ranges=inputs.limit_ranges,
        memory_history=memory_history,
        predict_horizon_minutes=policy.memory.predict_horizon_minutes,
    )
    add_kind_findings(
        diagnosis,
        inputs.pod,
        events=inputs.events,
        logs={**previous, **current},
        job=inputs.job,
        cronjob=inputs.cronjob,
        cronjob_events=inputs.cronjob_events,
        workload=_kind_workload(inputs),
        nodes=inputs.daemon_nodes,
        daemon_pods=inputs.daemon_pods,
        claims=inputs.claims,
        claim_events=inputs.claim_events,
        missing_claims=inputs.missing_claims,
        node=inputs.node,
        endpointslices=inputs.endpointslices,
        now=inputs.read_at,
    )
    _note_log_gaps(diagnosis, inputs)
    return diagnosis


def _owners(inputs: DiagnosisInputs) -> list[JSON]:
    """The pod's controllers as read: ReplicaSets, Job and CronJob, Deployment, StatefulSet or
    DaemonSet."""
    owners = list(inputs.replicasets)
    owners += [o for o in (inputs.job, inputs.cronjob) if o is not None]
    if inputs.deployment is not None:
        owners.append(inputs.deployment)
    if inputs.workload is not None:  # a StatefulSet or DaemonSet
        owners.append(inputs.workload)
    return owners


def _note_log_gaps(diagnosis: Diagnosis, inputs: DiagnosisInputs) -> None:
    """Say which logs could not be read and which were cut at the size limit."""
    unavailable = [
        f"{e.container} ({'previous' if e.previous else 'current'}): {redact(e.error or '')}"
        for e in inputs.logs
        if e.unavailable
    ]
    if unavailable:
        # No error lines is then no evidence of a clean log: the rules and the LLM are told.
        diagnosis.logs["unavailable"] = unavailable
        diagnosis.recommendations.append(
            "The pod's logs are unavailable (the API server could not reach its node's "
            "kubelet): check the node before trusting a diagnosis without log evidence"
        )
    truncated = [e.container for e in inputs.logs if e.truncated]
    if truncated:
        diagnosis.logs["cut_at_limit_bytes"] = truncated


def _kind_workload(inputs: DiagnosisInputs) -> JSON | None:
    """The pod's StatefulSet or DaemonSet, when read (kind set from the pod's owner)."""
    workload = inputs.workload
    if workload is None:
        return None
    refs = (inputs.pod.get("metadata") or {}).get("ownerReferences") or []
    kind = next(
        (r.get("kind") for r in refs if r.get("kind") in ("StatefulSet", "DaemonSet")), None
    )
    return {**workload, "kind": workload.get("kind") or kind}


def memory_history_of(
    usage: UsageSampler | None, inputs: DiagnosisInputs
) -> dict[str, list[MemorySample]]:
    """The usage sampler's memory samples of the diagnosed pod (this uid), or none."""
    if usage is None:
        return {}
    meta = inputs.pod.get("metadata") or {}
    uid = str(meta.get("uid") or "")
    if not uid:
        return {}
    return usage.memory_samples(str(meta.get("namespace") or ""), str(meta.get("name") or ""), uid)


def classify_pod(pod: JSON) -> str | None:
    """The pod's main issue type, or None when healthy (for the pod cache)."""
    return classify_unhealthy(pod)


def pod_health_score(pod: JSON) -> float:
    return float(health_score(pod))


def analyze_log(text: str, *, container: str | None) -> LogAnalysis:
    return analyze_log_text(text, container=container)


def resource_report(pod: JSON, pod_metrics: JSON | None, *, served: bool, message: str) -> JSON:
    report = _resource_report(pod, pod_metrics, metrics_available=served)
    body = report.model_dump(mode="json")
    if not served:
        body["metrics_message"] = message or "metrics.k8s.io is not served by this cluster"
    elif pod_metrics is None:
        body["metrics_message"] = message or "no metrics sample for this pod yet"
    return body
