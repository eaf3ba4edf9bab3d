"""The decision table's rows for the kinds around a pod: Jobs and CronJobs, nodes,
claims, evicted pods and the findings about a pod's owner and surroundings."""

from __future__ import annotations

from policies.actions import WRITE_ACTIONS, Action, Risk
from policies.diagnosis import IssueType
from policies.rule_context import Choice, RulesContext, clip, investigate, with_investigate


def _job_names(rules: RulesContext) -> tuple[str | None, str | None]:
    """The Job's and the CronJob's names, from the diagnosis or the top owner."""
    workload = rules.f.workload
    assert workload is not None
    job, cronjob = rules.d.job, rules.d.cronjob
    job_name = job.name if job is not None else None
    if job_name is None and workload.kind == "Job":
        job_name = workload.name
    cron = cronjob.name if cronjob is not None else (job.cronjob if job else None)
    if cron is None and workload.kind == "CronJob":
        cron = workload.name
    return job_name, cron


def _job_parameters(namespace: str, job_name: str | None, cron: str | None) -> dict[str, str]:
    """What a human needs at hand: the logs command, how to re-run, the names."""
    found: dict[str, str] = {}
    if job_name:
        found["command"] = f"kubectl logs job/{job_name} -n {namespace}"
    if cron:
        found["rerun_command"] = (
            f"kubectl create job --from=cronjob/{cron} {cron}-manual -n {namespace}"
        )
    elif job_name:
        found["rerun_command"] = (
            f"kubectl delete job {job_name} -n {namespace} && kubectl create -f <the Job's "
            "manifest>"
        )
    if job_name:
        found["job"] = job_name
    if cron:
        found["cronjob"] = cron
    return found


def _job_failed(rules: RulesContext) -> Choice | None:
    """A failed Job or a failing CronJob: the messages, for a human (None: neither)."""
    failed = next((i for i in rules.f.issues if i.type == IssueType.JOB_FAILED), None)
    failing = next((i for i in rules.f.issues if i.type == IssueType.CRONJOB_FAILING), None)
    if failed is None and failing is None:
        return None
    parts = []
    if failed is not None:
        parts.append(clip(failed.message))
        job = rules.d.job
        if job is not None and job.last_log_lines:
            parts.append("last log line: " + clip(job.last_log_lines[-1]))
    if failing is not None:
        parts.append(clip(failing.message))
    kind = failed.type if failed is not None else IssueType.CRONJOB_FAILING
    return investigate(
        "; ".join(parts) + "; a Job's pods are never deleted or retried automatically "
        "(a re-run repeats its side effects): a human decides",
        kind,
        0.95,
    )


def job(rules: RulesContext) -> Choice:
    """A Job's (or CronJob's) pod is never deleted: it is not a crash-looping replica, a
    retry would repeat the Job's side effects, and its pods are the evidence. The other
    rows may still classify it, but only read-only answers stand."""
    workload = rules.f.workload
    assert workload is not None
    choice = _job_failed(rules)
    if choice is None:
        rules.in_job_guard = True
        try:
            inner = rules.choose()
        finally:
            rules.in_job_guard = False
        if inner.action not in WRITE_ACTIONS:
            inner.milder = [m for m in inner.milder if m.action not in WRITE_ACTIONS]
            return inner
        choice = investigate(
            f"{inner.reason}; but this is a {workload.kind}'s pod: its pods are never "
            f"deleted or its template changed automatically ({inner.action} is a human's "
            "decision)",
            inner.issue_type,
            0.9,
        )
    choice.parameters.update(_job_parameters(rules.f.namespace, *_job_names(rules)))
    return choice


def node_not_ready(rules: RulesContext) -> Choice:
    """The pod's node stopped reporting: its pod status is stale, a delete would hang on
    the node, and the node is never touched by the server."""
    issue = next(i for i in rules.f.issues if i.type == IssueType.NODE_NOT_READY)
    node = rules.d.node.name if rules.d.node is not None else rules.d.status.get("node")
    replaced = (
        f"; {rules.f.key} replaces the pod once the taint manager evicts it"
        if rules.f.workload is not None
        else "; nothing recreates a bare pod"
    )
    choice = investigate(
        f"{clip(issue.message)}{replaced}; cordoning or draining the node is a human's decision",
        IssueType.NODE_NOT_READY,
        0.9,
    )
    if isinstance(node, str) and node:
        choice.parameters["node"] = node
        choice.parameters["command"] = f"kubectl cordon {node}"
        choice.parameters["drain_command"] = (
            f"kubectl drain {node} --ignore-daemonsets --delete-emptydir-data"
        )
    return choice


def pvc_pending(rules: RulesContext) -> Choice:
    """The scheduler waits for a claim: nothing the server may write binds it."""
    issue = next(i for i in rules.f.issues if i.type == IssueType.PVC_PENDING)
    choice = investigate(
        f"pending on a PersistentVolumeClaim: {clip(issue.message)}; the server never "
        "touches claims or volumes",
        IssueType.PVC_PENDING,
        0.95,
    )
    claims = [c for c in rules.d.claims if c.phase != "Bound"] or rules.d.claims
    if claims:
        claim = claims[0]
        choice.parameters["claim"] = claim.name
        choice.parameters["command"] = f"kubectl describe pvc {claim.name} -n {rules.f.namespace}"
        if claim.storage_class:
            choice.parameters["storage_class"] = claim.storage_class
            choice.parameters["class_command"] = f"kubectl get storageclass {claim.storage_class}"
    return choice


def surroundings(rules: RulesContext, types: frozenset[str]) -> Choice:
    """A Service without ready endpoints, a StatefulSet rollout held by an ordinal, a
    DaemonSet's pods missing on nodes, a failing CronJob: findings about the pod's
    owner and surroundings, with no pod-level failure the rows above act on."""
    first = next(i for i in rules.f.issues if i.type in types)
    return investigate(
        f"{first.type}: {clip(first.message)}; informational, no automatic remedy",
        first.type,
        0.8,
    )


def evicted(rules: RulesContext) -> Choice:
    workload = rules.f.workload
    if workload is None:
        return investigate(
            "evicted bare pod: nothing recreated it; a human must re-create its workload",
            IssueType.EVICTED,
        )
    choice = Choice(
        Action.DELETE_EVICTED_POD,
        f"evicted pod; {rules.f.key} already replaced it",
        0.95,
        Risk.LOW,
        IssueType.EVICTED,
    )
    pod_uid = rules.d.pod_uid
    if pod_uid:
        choice.parameters["pod_uid"] = pod_uid
    return with_investigate(choice)
