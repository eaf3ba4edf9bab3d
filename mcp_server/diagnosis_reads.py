"""Which reads a diagnosis needs, batched within its request budget, and the guard rails a
write needs besides. The gateway sends each request; this module decides which."""

from __future__ import annotations

from dataclasses import dataclass

from mcp_server import owner_reads
from mcp_server.gateway import (
    JSON,
    MAX_DIAGNOSIS_REQUESTS,
    BudgetExhausted,
    DiagnosisInputs,
    EventsCut,
    Forbidden,
    Gateway,
    GatewayError,
    LogText,
    NotFound,
)
from mcp_server.redaction import redact
from mcp_server.writes import WriteRefused, label_selector


def fetch_diagnosis_inputs(
    gateway: Gateway,
    namespace: str,
    pod_name: str,
    *,
    check_logs: bool = True,
    check_events: bool = True,
    budget: int = MAX_DIAGNOSIS_REQUESTS,
    seconds: float | None = None,
) -> DiagnosisInputs:
    """Everything a diagnosis reads, in at most `budget` requests (retries count) and
    `seconds` of wall time (default: the gateway's `diagnosis_budget_seconds`).

    One namespaced list of ReplicaSets serves both the owner chain and the rollout
    history; the Deployment is read for its strategy and replicas; nodes only for a pod
    that does not schedule; metrics only for a pod with a running container; one log
    (the previous instance of a restarted container, else the current one). What the budget
    leaves unread is listed in `skipped` ("<read>: skipped: ..."); a log the server could not
    give (its node's kubelet unreachable) is "log <container> (<instance>): logs unavailable:
    <reason>" there, and the pod's other logs are not asked for.
    """
    limit = gateway.diagnosis_budget_seconds if seconds is None else seconds
    with gateway.budget(requests=budget, seconds=limit):
        return _fetch(gateway, namespace, pod_name, check_logs, check_events, budget, limit)


def _fetch(
    gateway: Gateway,
    namespace: str,
    pod_name: str,
    check_logs: bool,
    check_events: bool,
    budget: int,
    seconds: float,
) -> DiagnosisInputs:
    start = gateway.requests_sent_by_this_thread
    pod = gateway.get_pod(namespace, pod_name)
    inputs = DiagnosisInputs(pod=pod)
    inputs.read_at = gateway.wall_clock()
    plan = _plan_reads(pod, check_logs=check_logs, check_events=check_events)
    logs_unavailable = False
    for step in plan:
        if step.what in owner_reads.STEPS and not owner_reads.wanted(step.what, pod, inputs):
            continue  # does not apply to this pod: no request, nothing skipped
        label = _label(step)
        skip = _skip_reason(gateway, step, budget, seconds, logs_unavailable=logs_unavailable)
        if skip is not None:
            inputs.skipped.append(f"{label}: skipped: {skip}")
            continue
        try:
            if _read_step(gateway, namespace, pod_name, step, inputs):
                logs_unavailable = True
        except BudgetExhausted as error:
            inputs.skipped.append(f"{label}: skipped: {error.message}")
        except (NotFound, Forbidden) as error:
            # The pod was read; a missing owner or a forbidden side read is a finding.
            inputs.skipped.append(f"{step.what}: {error.reason}: {error.message}")
        except GatewayError as error:
            _, seconds_left = gateway.budget_left()
            if not error.retryable or seconds_left is None or seconds_left > 0:
                raise
            # It failed because the time budget ran out under it (the request's timeout is
            # what was left): a skipped read, not a failed diagnosis.
            inputs.skipped.append(
                f"{label}: skipped: time budget of {seconds:g}s spent ({error.reason})"
            )
    inputs.requests_used = gateway.requests_sent_by_this_thread - start
    return inputs


def _skip_reason(
    gateway: Gateway, step: _Read, budget: int, seconds: float, *, logs_unavailable: bool
) -> str | None:
    """Why the step is not sent (a spent budget, the pod's logs unavailable), or None."""
    requests_left, seconds_left = gateway.budget_left()
    if requests_left is not None and requests_left <= 0:
        return f"request budget of {budget} reached"
    if seconds_left is not None and seconds_left <= 0:
        return f"time budget of {seconds:g}s spent"
    if step.what == "log" and logs_unavailable:
        return "the pod's logs are unavailable"
    return None


def _read_step(
    gateway: Gateway, namespace: str, pod_name: str, step: _Read, inputs: DiagnosisInputs
) -> bool:
    """Send one planned read into `inputs`; True when it found the pod's logs unavailable."""
    pod = inputs.pod
    if step.what in owner_reads.STEPS:
        owner_reads.fetch(gateway, namespace, pod, step.what, inputs)
    elif step.what == "events":
        _read_events(gateway, namespace, pod_name, inputs)
    elif step.what == "replicasets":
        inputs.replicasets = gateway.list_replicasets(namespace)
    elif step.what == "deployment":
        name = _deployment_of(pod, inputs.replicasets)
        if name is not None:
            inputs.deployment = gateway.get_deployment(namespace, name)
    elif step.what == "workload":
        ref = _revisioned_owner(pod)
        if ref is not None:
            inputs.workload = gateway.get_workload(ref[0], namespace, ref[1])
    elif step.what == "controllerrevisions":
        _read_controller_revisions(gateway, namespace, inputs)
    elif step.what == "limitranges":
        inputs.limit_ranges = gateway.list_limit_ranges(namespace)
    elif step.what == "nodes":
        inputs.nodes = gateway.list_nodes()
    elif step.what == "metrics":
        inputs.metrics = gateway.get_pod_metrics(namespace, pod_name)
    elif step.what == "log" and step.container is not None:
        return _read_log(gateway, namespace, pod_name, step.container, step, inputs)
    return False


def _read_events(gateway: Gateway, namespace: str, pod_name: str, inputs: DiagnosisInputs) -> None:
    try:
        inputs.events = gateway.list_events_for(
            namespace, pod_name, uid=(inputs.pod.get("metadata") or {}).get("uid")
        )
    except EventsCut as cut:
        inputs.events = cut.items
        inputs.skipped.append(f"events: cut: {cut.message}")


def _read_controller_revisions(gateway: Gateway, namespace: str, inputs: DiagnosisInputs) -> None:
    if inputs.workload is None:
        return
    # As `kubectl rollout history` reads them: by the workload's selector.
    selector = (inputs.workload.get("spec") or {}).get("selector") or {}
    try:
        text = label_selector(selector)
    except WriteRefused:
        text = ""
    inputs.controller_revisions = gateway.list_controller_revisions(
        namespace, label_selector=text or None
    )


def _read_log(
    gateway: Gateway,
    namespace: str,
    pod_name: str,
    container: str,
    step: _Read,
    inputs: DiagnosisInputs,
) -> bool:
    """Read the step's log; True (and the server's reason in `skipped`) when unavailable."""
    log = gateway.read_log(namespace, pod_name, container, previous=step.previous, tail_lines=200)
    inputs.logs.append(log)
    if not log.unavailable:
        return False
    inputs.skipped.append(f"{_label(step)}: {redact(log.error or 'logs unavailable')}")
    return True


def fetch_logs(
    gateway: Gateway,
    namespace: str,
    pod_name: str,
    container: str,
    *,
    restarted: bool,
    tail_lines: int | None,
    since_seconds: int | None,
    seconds: float | None = None,
) -> list[LogText]:
    """What `analyze_logs` reads: the current log and, for a restarted container, the previous
    one (no time window: the crash is where it is), within the gateway's diagnosis time budget.
    When the current log is unavailable (the node's kubelet unreachable), the previous one is
    not asked for: the same kubelet serves it. At most two requests for an unreachable node."""
    limit = gateway.diagnosis_budget_seconds if seconds is None else seconds
    with gateway.budget(seconds=limit):
        current = gateway.read_log(
            namespace, pod_name, container, tail_lines=tail_lines, since_seconds=since_seconds
        )
        logs = [current]
        if restarted and not current.unavailable:
            try:
                logs.append(
                    gateway.read_log(
                        namespace, pod_name, container, previous=True, tail_lines=tail_lines
                    )
                )
            except BudgetExhausted as error:
                logs.append(LogText(container, True, None, f"skipped: {error.message}"))
    for log in logs:
        if log.error:
            log.error = redact(log.error)
    return logs


def _label(step: _Read) -> str:
    if step.what != "log":
        return step.what
    return f"log {step.container} ({'previous' if step.previous else 'current'})"


def fetch_guard_rails(gateway: Gateway, inputs: DiagnosisInputs) -> None:
    """Before a write: the namespace's PodDisruptionBudgets and LimitRanges.

    A diagnosis leaves them out to stay within its budget; a write must not, because they
    bound the blast radius and the highest memory limit a container may be given.
    """
    namespace = str((inputs.pod.get("metadata") or {}).get("namespace") or "")
    for what, read in (
        ("poddisruptionbudgets", gateway.list_pod_disruption_budgets),
        ("limitranges", gateway.list_limit_ranges),
    ):
        try:
            items = read(namespace)
        except Forbidden as error:
            # Unknown guard rails make the rules refuse (a missing fact never loosens them).
            inputs.skipped.append(f"{what}: {error.reason}: {error.message}")
            continue
        if what == "poddisruptionbudgets":
            inputs.pdbs = items
        else:
            inputs.limit_ranges = items
    inputs.guard_rails_read = True


@dataclass(frozen=True)
class _Read:
    what: str
    container: str | None = None
    previous: bool = False


def _plan_reads(pod: JSON, *, check_logs: bool, check_events: bool) -> list[_Read]:
    """The reads worth their request for this pod, most valuable first."""
    status = pod.get("status") or {}
    owners = (pod.get("metadata") or {}).get("ownerReferences") or []
    plan: list[_Read] = []
    if check_events:
        plan.append(_Read("events"))
    if any(o.get("kind") == "ReplicaSet" for o in owners):
        plan += [_Read("replicasets"), _Read("deployment")]
        if _oom_killed(status):
            # The namespace's LimitRange caps what raising the memory limit may do.
            plan.append(_Read("limitranges"))
    elif _revisioned_owner(pod) is not None:
        # A StatefulSet's or DaemonSet's pod: the workload (strategy, replicas, current
        # revision) and its ControllerRevisions (the rollout history a rollback returns to).
        plan += [_Read("workload"), _Read("controllerrevisions")]
        if _oom_killed(status):
            plan.append(_Read("limitranges"))
    unscheduled = status.get("phase") == "Pending" and not status.get("containerStatuses")
    if unscheduled:
        # No container ever ran: no logs, no metrics.
        return owner_reads.arrange(pod, plan, [_Read("nodes")], _Read)
    statuses = list(status.get("containerStatuses") or [])
    chosen = _log_container(statuses) if check_logs and statuses else None
    running = any("running" in (s.get("state") or {}) for s in statuses)
    # A crashed instance's log explains the crash; for a running pod, usage matters more.
    reads = [chosen] if chosen is not None else []
    if running:
        reads = (
            reads + [_Read("metrics")] if chosen and chosen.previous else [_Read("metrics")] + reads
        )
    if chosen is not None and chosen.previous:
        # Last, if the budget still allows: the current instance too (e.g. a bare pod).
        reads.append(_Read("log", chosen.container, previous=False))
    return owner_reads.arrange(pod, plan, reads, _Read)


def _oom_killed(status: JSON) -> bool:
    for container in status.get("containerStatuses") or []:
        for state in (container.get("state") or {}, container.get("lastState") or {}):
            if ((state.get("terminated") or {}).get("reason")) == "OOMKilled":
                return True
    return False


def _log_container(statuses: list[JSON]) -> _Read | None:
    """The one log that tells the most: a restarted container's previous instance first."""

    def badness(s: JSON) -> tuple[int, int]:
        waiting = (s.get("state") or {}).get("waiting") or {}
        return (
            1 if waiting.get("reason") in ("CrashLoopBackOff", "RunContainerError") else 0,
            int(s.get("restartCount") or 0),
        )

    worst = max(statuses, key=badness)
    name = worst.get("name")
    if not isinstance(name, str):
        return None
    state = worst.get("state") or {}
    if (
        "waiting" in state
        and (state["waiting"] or {}).get("reason")
        in (
            "ErrImagePull",
            "ImagePullBackOff",
            "ContainerCreating",
            "CreateContainerConfigError",
            "InvalidImageName",
        )
        and not worst.get("lastState")
    ):
        return None  # never ran: there is no log to read
    previous = bool((worst.get("lastState") or {}).get("terminated")) and "running" not in state
    return _Read("log", name, previous)


def _revisioned_owner(pod: JSON) -> tuple[str, str] | None:
    """(kind, name) of the pod's StatefulSet or DaemonSet controller, if it has one."""
    for ref in (pod.get("metadata") or {}).get("ownerReferences") or []:
        if (
            isinstance(ref, dict)
            and ref.get("controller") is True
            and ref.get("kind") in ("StatefulSet", "DaemonSet")
            and ref.get("name")
        ):
            return str(ref["kind"]), str(ref["name"])
    return None


def _deployment_of(pod: JSON, replicasets: list[JSON]) -> str | None:
    owners = (pod.get("metadata") or {}).get("ownerReferences") or []
    rs_name = next((o.get("name") for o in owners if o.get("kind") == "ReplicaSet"), None)
    for rs in replicasets:
        meta = rs.get("metadata") or {}
        if meta.get("name") == rs_name:
            for ref in meta.get("ownerReferences") or []:
                if ref.get("kind") == "Deployment":
                    return str(ref.get("name"))
    return None
