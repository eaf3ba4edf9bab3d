"""The tools' work, synchronous and transport-free: validated input in, result model out.

Each function raises `ToolFailure` (or a gateway error) for anything it cannot do; the
wrapper in `mcp_server.tools` turns those into `success: false` results.
"""

from __future__ import annotations

from typing import Any

from mcp_server import metrics
from mcp_server.auth import Caller
from mcp_server.diagnosis_reads import fetch_diagnosis_inputs, fetch_logs
from mcp_server.errors import ErrorCode
from mcp_server.executor import HealRequest
from mcp_server.gateway import NotFound
from mcp_server.healing import Healer, RollbackRequest
from mcp_server.planning import blocking_checks, plan_for
from mcp_server.pod_diagnosis import (
    analyze_log,
    classify_pod,
    diagnose_inputs,
    memory_history_of,
    resource_report,
)
from mcp_server.pod_projection import restarts
from mcp_server.reconcile import intent_cluster, reconcile
from mcp_server.state import ServerState
from mcp_server.tools.models import (
    ActionStatusInput,
    ActionStatusResult,
    AnalyzeLogsInput,
    AnalyzeLogsResult,
    AutoHealInput,
    DiagnoseInput,
    DiagnosePodResult,
    HealResult,
    ListUnhealthyInput,
    ListUnhealthyResult,
    PlanInput,
    PlanResult,
    ResourceUsageInput,
    ResourceUsageResult,
    RollbackInput,
    RollbackResult,
    ToolFailure,
    UnhealthyPodInfo,
    Verification,
)
from mcp_server.verifier import Verifier
from mcp_server.workload_refs import Owner, owner_of
from policies import WRITE_ACTIONS, IssueType

CACHE_SYNC_WAIT_SECONDS = 10.0


def _pod(state: ServerState, namespace: str, name: str) -> dict[str, Any]:
    try:
        return state.gateway.get_pod(namespace, name)
    except NotFound as error:
        raise ToolFailure("not_found", f"pod {namespace}/{name} not found") from error


def diagnose_pod(state: ServerState, args: DiagnoseInput, caller: Caller) -> DiagnosePodResult:
    try:
        inputs = fetch_diagnosis_inputs(
            state.gateway,
            args.namespace,
            args.pod_name,
            check_logs=args.check_logs,
            check_events=args.check_events,
        )
    except NotFound as error:
        raise ToolFailure("not_found", f"pod {args.namespace}/{args.pod_name} not found") from error
    if args.check_logs and args.check_events:
        # A plan for this pod version moments later reuses these reads.
        state.memo.put(inputs, state.clock.monotonic())
    diagnosis = diagnose_inputs(inputs, state.policy, memory_history_of(state.usage, inputs))
    for issue_type in diagnosis.issue_types:
        metrics.issues_detected_total.labels(issue_type=issue_type).inc()
    body = diagnosis.model_dump(mode="json")
    body["api_requests"] = inputs.requests_used
    body["not_fetched"] = inputs.skipped
    return DiagnosePodResult.model_validate(body)


def analyze_logs(state: ServerState, args: AnalyzeLogsInput, caller: Caller) -> AnalyzeLogsResult:
    pod = _pod(state, args.namespace, args.pod_name)
    statuses = {
        str(cs.get("name")): cs for cs in (pod.get("status") or {}).get("containerStatuses") or []
    }
    names = [str(c.get("name")) for c in (pod.get("spec") or {}).get("containers") or []]
    if args.container is not None and args.container not in names:
        raise ToolFailure(
            "not_found",
            f"pod {args.namespace}/{args.pod_name} has no container {args.container}",
            containers=names,
        )
    container = args.container or (names[0] if names else None)
    if container is None:
        raise ToolFailure("not_found", "the pod has no containers")
    restarted = int((statuses.get(container) or {}).get("restartCount") or 0) > 0
    # The current log, and the crashed instance's for a restarted container (where the error
    # is); not the previous one when the node's kubelet did not answer for the current one.
    logs = fetch_logs(
        state.gateway,
        args.namespace,
        args.pod_name,
        container,
        restarted=restarted,
        tail_lines=args.tail_lines,
        since_seconds=args.since_seconds,
    )
    current = logs[0]
    texts = [current.text or ""]
    notes = [current.error] if current.error else []
    for previous in logs[1:]:
        if previous.text:
            texts.insert(0, previous.text)
        elif previous.error:
            notes.append(f"previous: {previous.error}")
    notes += [
        f"{'previous' if e.previous else 'current'} log cut at {state.gateway.log_limit_bytes} "
        "bytes (limitBytes): the newest lines may be missing; ask for fewer tail_lines"
        for e in logs
        if e.truncated
    ]
    analysis = analyze_log("\n".join(t for t in texts if t), container=container)
    body = analysis.model_dump(mode="json")
    body.update(
        pod_name=args.pod_name,
        namespace=args.namespace,
        container=container,
        read_previous=len(logs) > 1,
        notes=notes,
    )
    return AnalyzeLogsResult.model_validate(body)


def check_resource_usage(
    state: ServerState, args: ResourceUsageInput, caller: Caller
) -> ResourceUsageResult:
    pod = _pod(state, args.namespace, args.pod_name)
    usage = state.gateway.get_pod_metrics(args.namespace, args.pod_name)
    body = resource_report(pod, usage.item, served=usage.served, message=usage.message)
    body.update(pod_name=args.pod_name, namespace=args.namespace)
    return ResourceUsageResult.model_validate(body)


def auto_heal_pod(state: ServerState, args: AutoHealInput, caller: Caller) -> HealResult:
    return Healer(state).heal(
        HealRequest(
            namespace=args.namespace,
            pod_name=args.pod_name,
            diagnosis=args.diagnosis or {},
            caller=caller,
            dry_run=args.dry_run,
            force=args.force,
            action=args.action,
            approval_id=args.approval_id,
            plan_id=args.plan_id,
            idempotency_key=args.idempotency_key,
        )
    )


def plan_healing(state: ServerState, args: PlanInput, caller: Caller) -> PlanResult:
    planned = plan_for(state, args.namespace, args.pod_name, caller, args.action)
    body = planned.plan.to_dict()
    body["writes"] = planned.plan.action in {a.value for a in WRITE_ACTIONS}
    body["blocked_by"] = [c.to_dict() for c in blocking_checks(planned.decision)]
    body["target"] = {k: str(v) for k, v in body["target"].items()}
    body["pod"] = {k: str(v) for k, v in body["pod"].items()}
    return PlanResult.model_validate(body)


def get_action_status(
    state: ServerState, args: ActionStatusInput, caller: Caller
) -> ActionStatusResult:
    intent = state.ledger.intent(args.action_id)
    if intent is None:
        raise ToolFailure(ErrorCode.ACTION_NOT_FOUND, f"no action {args.action_id}")
    cluster = intent_cluster(state, intent)
    if state.cluster is not None and cluster not in (None, state.cluster):
        # One store, several clusters: this cluster's reads cannot verify another's write.
        raise ToolFailure(
            ErrorCode.INVALID_INPUT,
            f"action {args.action_id} was on cluster {cluster}, not {state.cluster}: "
            f"ask with cluster={cluster}",
            field="cluster",
            action_cluster=cluster,
        )
    if intent.outcome is None and state.ledger.owner_gone(intent):
        reconcile(state, [intent])
        intent = state.ledger.intent(args.action_id) or intent
    if intent.outcome is None:
        verification = Verification(
            status="pending", action_id=intent.action_id, message="the write has no outcome yet"
        )
    else:
        verification = Verification.model_validate(Verifier(state).status(intent))
    return ActionStatusResult(
        action_id=intent.action_id,
        cluster=cluster,
        plan_id=intent.plan_id,
        action=intent.action,
        target={k: str(v) for k, v in intent.target.items()},
        outcome=intent.outcome,
        initiator=intent.initiator,
        approver=intent.approver,
        verification=verification,
    )


def rollback_deployment(state: ServerState, args: RollbackInput, caller: Caller) -> RollbackResult:
    return Healer(state).rollback(
        RollbackRequest(
            namespace=args.namespace,
            deployment_name=args.deployment_name,
            kind=args.kind,
            caller=caller,
            revision=args.revision,
            approval_id=args.approval_id,
            dry_run=args.dry_run,
            force=args.force,
            plan_id=args.plan_id,
            idempotency_key=args.idempotency_key,
        )
    )


# One unhealthy pod before its workload is known: the entry's fields, and its nearest owner.
_Row = tuple[dict[str, Any], Owner]


def _row(pod: dict[str, Any], issue_type: str, **extra: Any) -> _Row:
    owner = owner_of(pod)
    fields = {
        "namespace": owner.namespace,
        "pod_name": owner.pod_name,
        "issue_type": issue_type,
        "phase": (pod.get("status") or {}).get("phase"),
        "restart_count": restarts(pod),
        "owner_kind": owner.kind,
        "owner_name": owner.name,
        **extra,
    }
    return fields, owner


def _with_workloads(state: ServerState, rows: list[_Row]) -> list[UnhealthyPodInfo]:
    """The entries, each with its workload (the top of its owner chain)."""
    workloads = state.workloads.resolve(state.gateway, [owner for _, owner in rows])
    return [
        UnhealthyPodInfo(**fields, workload=workloads[f"{owner.namespace}/{owner.pod_name}"])
        for fields, owner in rows
    ]


def list_unhealthy_pods(
    state: ServerState, args: ListUnhealthyInput, caller: Caller
) -> ListUnhealthyResult:
    cache = state.cache
    if cache is None:
        # No cache configured (one-shot use): one list, classified the same way.
        listed = state.gateway.list_pods(args.namespace)
        rows = [_row(pod, issue) for pod in listed.items if (issue := classify_pod(pod))]
        return ListUnhealthyResult(
            namespace=args.namespace,
            synced=True,
            pods_monitored=len(listed.items),
            pods=_with_workloads(state, rows),
            source="list",
        )
    if not cache.wait_synced(CACHE_SYNC_WAIT_SECONDS):
        raise ToolFailure(
            ErrorCode.NOT_READY,
            "the pod cache has not synced with the API server yet"
            + (f" ({cache.last_error})" if cache.last_error else ""),
            retryable=True,
        )
    rows = [
        (
            {
                "namespace": p.namespace,
                "pod_name": p.name,
                "issue_type": p.issue_type,
                "phase": p.phase,
                "restart_count": p.restart_count,
                "owner_kind": p.owner_kind,
                "owner_name": p.owner_name,
            },
            Owner(p.namespace, p.name, p.owner_kind, p.owner_name, p.owner_uid),
        )
        for p in cache.unhealthy(args.namespace)
    ]
    seen = {(owner.namespace, owner.pod_name) for _, owner in rows}
    rows.extend(_predicted_ooms(state, args.namespace, seen))
    return ListUnhealthyResult(
        namespace=args.namespace,
        synced=True,
        pods_monitored=len(cache.pods(args.namespace)),
        pods=_with_workloads(state, rows),
    )


def _predicted_ooms(
    state: ServerState, namespace: str | None, already: set[tuple[str, str]]
) -> list[_Row]:
    """Running pods the usage sampler predicts an OOM kill for (not unhealthy otherwise)."""
    if state.usage is None or state.cache is None:
        return []
    out: list[_Row] = []
    for prediction in state.usage.predicted(namespace):
        key = prediction.key
        if (key.namespace, key.pod) in already:
            continue
        pod = state.cache.get(key.namespace, key.pod)
        meta = (pod or {}).get("metadata") or {}
        if pod is None or str(meta.get("uid") or "") != key.pod_uid:
            continue
        if meta.get("deletionTimestamp"):
            continue
        already.add((key.namespace, key.pod))
        trend = prediction.trend
        minutes = trend.minutes_to_limit
        reason = (
            f"PredictedOOM: container {key.container} reaches its memory limit in "
            f"~{minutes:.0f} min ({trend.describe()})"
            if minutes is not None
            else f"PredictedOOM: {trend.describe()}"
        )
        out.append(
            _row(
                pod,
                IssueType.PREDICTED_OOM,
                reason=reason,
                container=key.container,
                minutes_to_limit=None if minutes is None else round(minutes, 1),
            )
        )
    return out
