"""The decision table (docs/decision-table.md): from a diagnosis to an action and its reason.

`decide()` picks the rule action, adds the milder actions the rules also allow, and runs the
safety checks on each. A missing fact never makes a rule more permissive: when the diagnosis
cannot tell, the answer is `investigate_manually`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import timedelta

from policies.actions import WRITE_ACTIONS, Action, Risk
from policies.decision import HAPPENED, ActionRecord, Decision, DecisionContext, ParamValue, Target
from policies.diagnosis import (
    Diagnosis,
    IssueType,
    MemoryTrendInfo,
    SchedulingInfo,
)
from policies.facts import (
    CONFIG_PROBLEM_TYPES,
    IMAGE_PULL_TYPES,
    MEMORY_PATCHABLE_KINDS,
    MI,
    OOM_REASON,
    PENDING_TYPES,
    ROLLBACK_KINDS,
    Facts,
    facts_of,
)
from policies.safety import READ_ONLY_CHECKS, auto_approved, checks_for

# A Job's or CronJob's pods: never deleted, never retried by the server.
JOB_KINDS = frozenset({"Job", "CronJob"})
# Findings about a pod's owner and surroundings that no write remedies.
SURROUNDING_TYPES = frozenset(
    {
        IssueType.SERVICE_NO_READY_ENDPOINTS,
        IssueType.STATEFULSET_ROLLOUT_STUCK,
        IssueType.DAEMONSET_PODS_MISSING,
        IssueType.CRONJOB_FAILING,
        IssueType.JOB_FAILED,
    }
)


@dataclass(slots=True)
class Choice:
    """A rule's verdict before the safety checks."""

    action: Action
    reason: str
    confidence: float
    risk: Risk
    issue_type: str | None
    target: Target | None = None  # None: the pod
    parameters: dict[str, ParamValue] = field(default_factory=dict)
    milder: list[Choice] = field(default_factory=list)


def _fmt_bytes(value: int) -> str:
    if value % 2**30 == 0:
        return f"{value // 2**30}Gi"
    if value % MI == 0:
        return f"{value // MI}Mi"
    return f"{value}B"


def new_memory_limit(peak: int, ratio: float, min_bump: int) -> int:
    """The Vertical Pod Autoscaler's OOM rule: max(peak + min_bump, peak * ratio), rounded up
    to a whole Mi (a readable quantity)."""
    wanted = max(peak + min_bump, math.ceil(peak * ratio))
    return -(-wanted // MI) * MI


def _vpa_rule(ratio: float, min_bump: int, limit: int, peak_name: str = "peak") -> str:
    return (
        f"VPA rule max({peak_name}+{_fmt_bytes(min_bump)}, {peak_name}×{ratio:g}) = "
        f"{_fmt_bytes(limit)}"
    )


def _trend_words(trend: MemoryTrendInfo) -> str:
    """The trend as a reason quotes it: rate, shape, samples, time to the limit."""
    shape = {"decelerating": "slowing down", "linear": "linearly"}.get(trend.shape, trend.shape)
    words = (
        f"working set {_fmt_bytes(trend.usage_bytes)} growing "
        f"~{trend.rate_mib_per_minute:.1f}Mi/min {shape} "
        f"({trend.samples} samples over {trend.span_minutes:.0f} min)"
    )
    if trend.minutes_to_limit is not None:
        words += f", limit reached in ~{trend.minutes_to_limit:.0f} min"
    return words


def _investigate(reason: str, issue_type: str | None, confidence: float = 0.9) -> Choice:
    return Choice(Action.INVESTIGATE_MANUALLY, reason, confidence, Risk.LOW, issue_type)


CLIP = 200  # characters of cluster-supplied text (messages, image names) quoted in a reason


def _clip(text: str) -> str:
    """Cluster text quoted in a reason, bounded: reasons go to audit records and prompts."""
    return text if len(text) <= CLIP else text[: CLIP - 1] + "…"


_HAND_OVER = {action: f"hand over to a human instead of {action}" for action in Action}


def _with_investigate(choice: Choice, *milder: Choice) -> Choice:
    """Attach the milder alternatives; handing over to a human is always among them."""
    choice.milder = [*milder, _investigate(_HAND_OVER[choice.action], choice.issue_type)]
    return choice


class _Rules:
    """One evaluation of the table; a class only to share the diagnosis and context."""

    in_job_guard = False  # deciding for a Job's pod: the choice is then made read-only

    def __init__(self, diagnosis: Diagnosis, context: DecisionContext, facts: Facts) -> None:
        self.d = diagnosis
        self.ctx = context
        self.f = facts
        self.policy = context.policy
        self.history: list[ActionRecord] = []
        if context.recent_actions:
            window = timedelta(seconds=self.policy.escalation_window_seconds)
            self.history = context.actions_since(context.now - window, HAPPENED)

    def done_recently(self, action: Action) -> int:
        if not self.history:
            return 0
        return sum(1 for record in self.history if record.action == action)

    def workload_target(self) -> Target:
        workload = self.f.workload
        assert workload is not None
        return Target(workload.kind, self.f.namespace, workload.name)

    def choose(self) -> Choice:
        f = self.f
        if not f.success:
            return _investigate("the diagnosis did not succeed; nothing to act on", None)
        issues = f.issues
        if not issues:
            return Choice(Action.NONE, "no issues detected", 1.0, Risk.LOW, None)
        types = self.f.types
        workload = self.f.workload
        if workload is not None and workload.kind in JOB_KINDS and not self.in_job_guard:
            return self.job()
        if self.f.evicted:
            return self.evicted()
        if IssueType.NODE_NOT_READY in types:
            return self.node_not_ready()
        if IssueType.PVC_PENDING in types:
            return self.pvc_pending()
        if types & PENDING_TYPES:
            return self.pending()
        if types & IMAGE_PULL_TYPES:
            return self.image_pull()
        if self.f.oom:
            return self.oom()
        if types & CONFIG_PROBLEM_TYPES:
            return self.config_problem()
        if IssueType.CRASH_LOOP in types:
            return self.crash_loop()
        if IssueType.PREDICTED_OOM in types:
            return self.predicted_oom()
        surroundings = types & SURROUNDING_TYPES
        if surroundings:
            return self.surroundings(surroundings)
        if all(issue.severity == "info" for issue in issues):
            listed = ", ".join(sorted(types))
            return Choice(Action.NONE, f"only advisory findings: {listed}", 0.9, Risk.LOW, None)
        first = next(i for i in issues if i.severity != "info")
        detail = _clip(first.message or "see the diagnosis")
        return _investigate(
            f"{_clip(first.type)}: no automatic remedy; {detail}",
            first.type,
            0.8,
        )

    # -- the branches ---------------------------------------------------------------------

    # -- the kinds that make pods fail: every one is handed to a human --------------------

    def job(self) -> Choice:
        """A Job's (or CronJob's) pod is never deleted: it is not a crash-looping replica, a
        retry would repeat the Job's side effects, and its pods are the evidence. The other
        rows may still classify it, but only read-only answers stand."""
        d = self.d
        workload = self.f.workload
        assert workload is not None
        namespace = self.f.namespace
        job = d.job
        job_name = job.name if job is not None else None
        if job_name is None and workload.kind == "Job":
            job_name = workload.name
        cron = d.cronjob.name if d.cronjob is not None else (job.cronjob if job else None)
        if cron is None and workload.kind == "CronJob":
            cron = workload.name
        failed = next((i for i in self.f.issues if i.type == IssueType.JOB_FAILED), None)
        failing = next((i for i in self.f.issues if i.type == IssueType.CRONJOB_FAILING), None)
        logs = f"kubectl logs job/{job_name} -n {namespace}" if job_name else None
        rerun = (
            f"kubectl create job --from=cronjob/{cron} {cron}-manual -n {namespace}"
            if cron
            else (
                f"kubectl delete job {job_name} -n {namespace} && kubectl create -f <the Job's "
                "manifest>"
                if job_name
                else None
            )
        )
        if failed is not None or failing is not None:
            parts = []
            if failed is not None:
                parts.append(_clip(failed.message))
                if job is not None and job.last_log_lines:
                    parts.append("last log line: " + _clip(job.last_log_lines[-1]))
            if failing is not None:
                parts.append(_clip(failing.message))
            kind = failed.type if failed is not None else IssueType.CRONJOB_FAILING
            choice = _investigate(
                "; ".join(parts) + "; a Job's pods are never deleted or retried automatically "
                "(a re-run repeats its side effects): a human decides",
                kind,
                0.95,
            )
        else:
            self.in_job_guard = True
            try:
                inner = self.choose()
            finally:
                self.in_job_guard = False
            if inner.action not in WRITE_ACTIONS:
                inner.milder = [m for m in inner.milder if m.action not in WRITE_ACTIONS]
                return inner
            choice = _investigate(
                f"{inner.reason}; but this is a {workload.kind}'s pod: its pods are never "
                f"deleted or its template changed automatically ({inner.action} is a human's "
                "decision)",
                inner.issue_type,
                0.9,
            )
        if logs:
            choice.parameters["command"] = logs
        if rerun:
            choice.parameters["rerun_command"] = rerun
        if job_name:
            choice.parameters["job"] = job_name
        if cron:
            choice.parameters["cronjob"] = cron
        return choice

    def node_not_ready(self) -> Choice:
        """The pod's node stopped reporting: its pod status is stale, a delete would hang on
        the node, and the node is never touched by the server."""
        issue = next(i for i in self.f.issues if i.type == IssueType.NODE_NOT_READY)
        node = self.d.node.name if self.d.node is not None else self.d.status.get("node")
        replaced = (
            f"; {self.f.key} replaces the pod once the taint manager evicts it"
            if self.f.workload is not None
            else "; nothing recreates a bare pod"
        )
        choice = _investigate(
            f"{_clip(issue.message)}{replaced}; cordoning or draining the node is a human's "
            "decision",
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

    def pvc_pending(self) -> Choice:
        """The scheduler waits for a claim: nothing the server may write binds it."""
        issue = next(i for i in self.f.issues if i.type == IssueType.PVC_PENDING)
        choice = _investigate(
            f"pending on a PersistentVolumeClaim: {_clip(issue.message)}; the server never "
            "touches claims or volumes",
            IssueType.PVC_PENDING,
            0.95,
        )
        claims = [c for c in self.d.claims if c.phase != "Bound"] or self.d.claims
        if claims:
            claim = claims[0]
            choice.parameters["claim"] = claim.name
            choice.parameters["command"] = (
                f"kubectl describe pvc {claim.name} -n {self.f.namespace}"
            )
            if claim.storage_class:
                choice.parameters["storage_class"] = claim.storage_class
                choice.parameters["class_command"] = (
                    f"kubectl get storageclass {claim.storage_class}"
                )
        return choice

    def surroundings(self, types: frozenset[str]) -> Choice:
        """A Service without ready endpoints, a StatefulSet rollout held by an ordinal, a
        DaemonSet's pods missing on nodes, a failing CronJob: findings about the pod's
        owner and surroundings, with no pod-level failure the rows above act on."""
        first = next(i for i in self.f.issues if i.type in types)
        return _investigate(
            f"{first.type}: {_clip(first.message)}; informational, no automatic remedy",
            first.type,
            0.8,
        )

    def evicted(self) -> Choice:
        workload = self.f.workload
        if workload is None:
            return _investigate(
                "evicted bare pod: nothing recreated it; a human must re-create its workload",
                IssueType.EVICTED,
            )
        choice = Choice(
            Action.DELETE_EVICTED_POD,
            f"evicted pod; {self.f.key} already replaced it",
            0.95,
            Risk.LOW,
            IssueType.EVICTED,
        )
        pod_uid = self.d.pod_uid
        if pod_uid:
            choice.parameters["pod_uid"] = pod_uid
        return _with_investigate(choice)

    def pending(self) -> Choice:
        d = self.d
        sched = d.scheduling
        if IssueType.UNBOUND_PVC in self.f.types:
            return _investigate(
                "pending on an unbound PersistentVolumeClaim", IssueType.UNBOUND_PVC
            )
        issue_type = IssueType.PENDING
        if sched is None or not sched.insufficient:
            why = _clip(
                "; ".join(sched.other_reasons)
                if sched and sched.other_reasons
                else (sched.message if sched and sched.message else "reason unknown")
            )
            return _investigate(f"pending, not for lack of CPU or memory: {why}", issue_type)
        wanted = " and ".join(sched.insufficient)
        request = _describe_request(sched)
        fits = _fits_any_node(sched)
        if fits is False:
            return _investigate(
                f"no node could ever fit the request ({request}); largest node: "
                f"{_largest_node(sched)}; lower the request or add bigger nodes",
                issue_type,
                0.95,
            )
        if fits is None:
            return _investigate(
                f"insufficient {wanted} for {request}; cannot tell whether any node could fit it",
                issue_type,
                0.7,
            )
        if sched.other_reasons:
            return _investigate(
                f"insufficient {wanted}, and also: {_clip('; '.join(sched.other_reasons))}",
                issue_type,
            )
        workload = self.f.workload
        minimum = self.policy.min_replicas
        if workload is not None and workload.kind == "Deployment":
            # Scale to the pods that run, so none stays Pending; never below the minimum.
            running = min(workload.ready_replicas, workload.replicas)
            target = running if running < workload.replicas else workload.replicas - 1
            if minimum <= target < workload.replicas:
                choice = Choice(
                    Action.SCALE_DOWN_DEPLOYMENT,
                    f"cluster is full (insufficient {wanted} for {request}); scale "
                    f"{workload.name} from {workload.replicas} to {target} replicas "
                    "(or add capacity)",
                    0.7,
                    Risk.MEDIUM,
                    issue_type,
                    target=self.workload_target(),
                    parameters={"replicas": target, "from_replicas": workload.replicas},
                )
                return _with_investigate(choice)
        return _investigate(
            f"cluster is full (insufficient {wanted} for {request}) and replicas cannot go "
            f"below {minimum}: add capacity",
            issue_type,
            0.85,
        )

    def image_pull(self) -> Choice:
        d = self.d
        issue = next(i for i in self.f.issues if i.type in IMAGE_PULL_TYPES)
        pulls = _clip(
            ", ".join(f"{p.image} ({p.error_class})" for p in d.image_pull) or issue.message
        )
        check = Choice(
            Action.CHECK_IMAGE_AVAILABILITY,
            f"image cannot be pulled: {pulls or 'see events'}",
            0.9,
            Risk.LOW,
            issue.type,
        )
        workload = self.f.workload
        if workload is not None and workload.kind in ROLLBACK_KINDS:
            rollout = workload.rollout
            if (
                rollout.image_changed_in_latest_rollout
                and rollout.previous_revision_healthy
                and rollout.previous_revision is not None
                and not self.done_recently(Action.ROLLBACK_DEPLOYMENT)
            ):
                choice = Choice(
                    Action.ROLLBACK_DEPLOYMENT,
                    f"image changed in the latest rollout and cannot be pulled ({pulls}); "
                    f"revision {rollout.previous_revision} ran healthy",
                    0.85,
                    Risk.MEDIUM,
                    issue.type,
                    target=self.workload_target(),
                    parameters={"revision": rollout.previous_revision},
                )
                return _with_investigate(choice, check)
        return _with_investigate(check)

    def oom(self) -> Choice:
        d = self.d
        issue = next(
            i
            for i in self.f.issues
            if i.type == IssueType.OOM_KILLED or OOM_REASON in (i.reason, i.last_termination_reason)
        )
        kind = IssueType.OOM_KILLED
        workload = self.f.workload
        if workload is None:
            return _investigate("OOM-killed bare pod: no workload template to raise", kind)
        if workload.kind not in MEMORY_PATCHABLE_KINDS:
            return _investigate(f"OOM-killed, but a {workload.kind} template is not patched", kind)
        containers = d.resources
        name = issue.container or (containers[0].name if len(containers) == 1 else None)
        resources = next((r for r in containers if r.name == name), None)
        if name is None or resources is None:
            return _investigate("OOM-killed, but the container's resources are unknown", kind)
        current = resources.memory_limit_bytes
        if current is None or current == 0:
            return _investigate(
                f"container {name} was OOM-killed without a memory limit: node memory pressure;"
                " set requests and limits",
                kind,
            )
        policy = self.policy.memory
        trend = resources.memory_trend
        increases = self.done_recently(Action.INCREASE_MEMORY_LIMIT)
        if increases >= policy.max_increases_per_window:
            return _investigate(
                f"memory limit of {name} already raised {increases} times recently and it is "
                "still OOM-killed: likely a leak" + (f"; {_trend_words(trend)}" if trend else ""),
                kind,
            )
        if increases and (trend is None or trend.shape != "decelerating"):
            # OOM-killed again at the raised limit: raising again blindly only delays the next
            # kill. A working set seen levelling off is a bigger need (raised below); anything
            # else is handed over as a leak candidate.
            evidence = (
                _trend_words(trend)
                if trend is not None
                else "no usage samples to tell a leak from a larger need"
            )
            choice = _investigate(
                f"container {name} OOM-killed again at {_fmt_bytes(current)} after its limit "
                f"was raised within the escalation window: leak candidate; {evidence}",
                kind,
            )
            choice.parameters.update(_leak_parameters(name, trend))
            return choice
        cap = self.memory_cap()
        if current >= cap:
            return _investigate(
                f"container {name} is OOM-killed at {_fmt_bytes(current)}, already at the cap "
                f"of {_fmt_bytes(cap)}",
                kind,
            )
        request = resources.memory_request_bytes
        # At an OOM kill the working set reached the limit: the limit is the least it needed.
        peak = max(
            request or 0,
            resources.memory_peak_bytes or 0,
            resources.memory_usage_bytes or 0,
            current,
        )
        if trend is not None and trend.shape == "decelerating" and trend.projected_bytes:
            peak = max(peak, trend.projected_bytes)
        wanted = new_memory_limit(peak, policy.oom_bump_ratio, policy.oom_min_bump)
        limit = min(wanted, cap)
        capped = f"; capped at {_fmt_bytes(cap)}" if limit < wanted else ""
        choice = Choice(
            Action.INCREASE_MEMORY_LIMIT,
            f"container {name} OOM-killed at {_fmt_bytes(current)} (peak {_fmt_bytes(peak)}, "
            f"request {_fmt_bytes(request) if request else 'none'}); "
            f"{_vpa_rule(policy.oom_bump_ratio, policy.oom_min_bump, wanted)}{capped}",
            0.85,
            Risk.MEDIUM,
            kind,
            target=self.workload_target(),
            parameters={
                "container": name,
                "memory_limit_bytes": limit,
                "previous_memory_limit_bytes": current,
            },
        )
        return _with_investigate(choice)

    def memory_cap(self) -> int:
        """The policy's `memory.max`, lowered by the namespace's LimitRange max if any."""
        cap = self.policy.memory.max
        range_max = self.d.limit_range_max_memory_bytes
        return cap if range_max is None else min(cap, range_max)

    def predicted_oom(self) -> Choice:
        """Not killed yet, but heading for it: raise a need that levels off; a steady climb is
        a likely leak for a human. Always behind an approval (see safety.auto_approved)."""
        kind = IssueType.PREDICTED_OOM
        issue = next(i for i in self.f.issues if i.type == kind)
        workload = self.f.workload
        name = issue.container
        resources = next((r for r in self.d.resources if r.name == name), None)
        trend = resources.memory_trend if resources is not None else None
        if name is None or resources is None or trend is None or not resources.memory_limit_bytes:
            return _investigate(
                f"container {name} is predicted to be OOM-killed, but its memory trend or "
                "limit is not in the diagnosis",
                kind,
                0.6,
            )
        current = resources.memory_limit_bytes
        words = _trend_words(trend)
        if workload is None:
            return _investigate(
                f"bare pod predicted to be OOM-killed ({words}): no workload template to raise",
                kind,
            )
        if workload.kind not in MEMORY_PATCHABLE_KINDS:
            return _investigate(
                f"predicted OOM kill ({words}), but a {workload.kind} template is not patched",
                kind,
            )
        if trend.shape != "decelerating" or not trend.projected_bytes:
            choice = _investigate(
                f"container {name} predicted to be OOM-killed at {_fmt_bytes(current)}: "
                f"likely leak, {words}; a higher limit would only delay the kill",
                kind,
            )
            choice.parameters.update(_leak_parameters(name, trend))
            return choice
        policy = self.policy.memory
        increases = self.done_recently(Action.INCREASE_MEMORY_LIMIT)
        if increases >= policy.max_increases_per_window:
            return _investigate(
                f"memory limit of {name} already raised {increases} times recently and it is "
                f"still heading for its limit ({words})",
                kind,
            )
        cap = self.memory_cap()
        if current >= cap:
            return _investigate(
                f"container {name} is predicted to be OOM-killed at {_fmt_bytes(current)}, "
                f"already at the cap of {_fmt_bytes(cap)} ({words})",
                kind,
            )
        need = max(
            resources.memory_request_bytes or 0,
            resources.memory_peak_bytes or 0,
            trend.peak_bytes,
            trend.projected_bytes,
        )
        wanted = new_memory_limit(need, policy.oom_bump_ratio, policy.oom_min_bump)
        limit = min(wanted, cap)
        if limit <= current:
            return _investigate(
                f"container {name} is predicted to be OOM-killed ({words}), but the projected "
                f"need of {_fmt_bytes(need)} fits the current limit",
                kind,
                0.6,
            )
        capped = f"; capped at {_fmt_bytes(cap)}" if limit < wanted else ""
        choice = Choice(
            Action.INCREASE_MEMORY_LIMIT,
            f"container {name} predicted to be OOM-killed at {_fmt_bytes(current)}: {words}, "
            f"levelling off near {_fmt_bytes(trend.projected_bytes)}; "
            f"{_vpa_rule(policy.oom_bump_ratio, policy.oom_min_bump, wanted, 'need')}{capped}",
            0.7,
            Risk.MEDIUM,
            kind,
            target=self.workload_target(),
            parameters={
                "container": name,
                "memory_limit_bytes": limit,
                "previous_memory_limit_bytes": current,
            },
        )
        return _with_investigate(choice)

    def config_problem(self) -> Choice:
        issue = next(i for i in self.f.issues if i.type in CONFIG_PROBLEM_TYPES)
        workload = self.f.workload
        began = workload is not None and workload.rollout.failure_began_with_latest_rollout
        note = "; it began with the latest rollout" if began else ""
        return _investigate(
            f"{issue.type}: a configuration problem a restart cannot fix"
            f" ({_clip(issue.message or 'see the diagnosis')}){note}",
            issue.type,
        )

    def crash_loop(self) -> Choice:
        kind = IssueType.CRASH_LOOP
        restarts = self.f.restarts
        threshold = self.policy.restart_threshold
        if restarts <= threshold:
            return _investigate(
                f"crash loop with {restarts} restarts, not above the threshold of {threshold}; "
                "look again later",
                kind,
                0.6,
            )
        workload = self.f.workload
        if workload is None:
            return _investigate(
                f"bare pod crash-looping ({restarts} restarts): nothing would recreate it",
                kind,
            )
        rollout = workload.rollout
        began_with_rollout = (
            workload.kind in ROLLBACK_KINDS
            and rollout.failure_began_with_latest_rollout
            and rollout.previous_revision is not None
        )
        if self.done_recently(Action.ROLLBACK_DEPLOYMENT):
            return _investigate(
                f"still crash-looping ({restarts} restarts) after a rollback", kind, 0.9
            )
        deleted = self.done_recently(Action.DELETE_POD)
        delete = Choice(
            Action.DELETE_POD,
            f"CrashLoopBackOff with {restarts} restarts; {self.f.key} recreates the pod",
            0.9,
            Risk.LOW,
            kind,
        )
        pod_uid = self.d.pod_uid
        if pod_uid:
            delete.parameters["pod_uid"] = pod_uid
        rollback_reason = ""
        if began_with_rollout and rollout.previous_revision_healthy:
            rollback_reason = (
                f"crash loop began with the latest rollout; revision "
                f"{rollout.previous_revision} ran healthy"
            )
        elif began_with_rollout and deleted:
            rollback_reason = (
                "deleting the pod did not heal a crash loop that began with the latest rollout"
            )
        if rollback_reason:
            assert rollout.previous_revision is not None
            choice = Choice(
                Action.ROLLBACK_DEPLOYMENT,
                rollback_reason,
                0.85 if rollout.previous_revision_healthy else 0.75,
                Risk.MEDIUM,
                kind,
                target=self.workload_target(),
                parameters={"revision": rollout.previous_revision},
            )
            return _with_investigate(choice, *([] if deleted else [delete]))
        if deleted:
            return _investigate(
                f"still crash-looping ({restarts} restarts) after the pod was deleted: "
                "a restart does not fix it",
                kind,
                0.9,
            )
        return _with_investigate(delete)


def _leak_parameters(container: str, trend: MemoryTrendInfo | None) -> dict[str, ParamValue]:
    """What a leak hand-over carries for the human (and the agent's report)."""
    params: dict[str, ParamValue] = {"container": container, "leak_candidate": "true"}
    if trend is not None:
        params["rate_mib_per_minute"] = f"{trend.rate_mib_per_minute:.2f}"
        params["trend_shape"] = trend.shape
        params["trend_samples"] = trend.samples
        if trend.minutes_to_limit is not None:
            params["minutes_to_limit"] = f"{trend.minutes_to_limit:.1f}"
    return params


def _describe_request(sched: SchedulingInfo) -> str:
    return f"cpu {sched.request_cpu_millicores}m, memory {_fmt_bytes(sched.request_memory_bytes)}"


def _fits_any_node(sched: SchedulingInfo) -> bool | None:
    if sched.fits_any_node is not None:
        return sched.fits_any_node
    if not sched.nodes:
        return None
    return any(
        node.allocatable_cpu_millicores >= sched.request_cpu_millicores
        and node.allocatable_memory_bytes >= sched.request_memory_bytes
        for node in sched.nodes
    )


def _largest_node(sched: SchedulingInfo) -> str:
    if not sched.nodes:
        return "unknown"
    by_memory = "memory" in sched.insufficient
    node = max(
        sched.nodes,
        key=lambda n: (
            (n.allocatable_memory_bytes, n.allocatable_cpu_millicores)
            if by_memory
            else (n.allocatable_cpu_millicores, n.allocatable_memory_bytes)
        ),
    )
    return (
        f"{node.name} with cpu {node.allocatable_cpu_millicores}m, memory "
        f"{_fmt_bytes(node.allocatable_memory_bytes)} allocatable"
    )


def _finish(
    choice: Choice, diagnosis: Diagnosis, context: DecisionContext, facts: Facts, pod: Target
) -> Decision:
    milder = choice.milder
    alternatives = (
        tuple([_finish(m, diagnosis, context, facts, pod) for m in milder]) if milder else ()
    )
    if choice.action not in WRITE_ACTIONS:  # read-only: nothing to approve, checks are constant
        return Decision(
            choice.action,
            choice.reason,
            choice.confidence,
            choice.risk,
            False,
            True,
            READ_ONLY_CHECKS[choice.action],
            choice.target or pod,
            pod,
            facts.key,
            choice.parameters,
            choice.issue_type,
            alternatives,
        )
    policy = context.policy
    requires_approval = not auto_approved(
        choice.action, choice.risk, choice.issue_type, policy
    ) and not (context.force and context.caller in policy.trusted_callers)
    target = choice.target or pod
    draft = Decision(
        choice.action,
        choice.reason,
        choice.confidence,
        choice.risk,
        requires_approval,
        False,
        (),
        target,
        pod,
        facts.key,
        choice.parameters,
        choice.issue_type,
        alternatives,
    )
    # The checks read the decision, so it is built twice: without and then with its checks.
    checks = checks_for(draft, diagnosis, context, facts)
    return Decision(
        choice.action,
        choice.reason,
        choice.confidence,
        choice.risk,
        requires_approval,
        all([c.passed for c in checks]),
        checks,
        target,
        pod,
        facts.key,
        choice.parameters,
        choice.issue_type,
        alternatives,
    )


def decide(diagnosis: Diagnosis, context: DecisionContext) -> Decision:
    """The rule decision for a diagnosis, its milder alternatives, and their safety checks."""
    facts = facts_of(diagnosis)
    pod = Target("Pod", facts.namespace, facts.pod_name)
    return _finish(_Rules(diagnosis, context, facts).choose(), diagnosis, context, facts, pod)


def allowed_actions(diagnosis: Diagnosis, context: DecisionContext) -> frozenset[Action]:
    """The rule action and the milder ones the rules allow for this diagnosis."""
    choice = _Rules(diagnosis, context, facts_of(diagnosis)).choose()
    return frozenset({choice.action, *(m.action for m in choice.milder)})
