"""Jobs and CronJobs: why a batch pod's workload failed, from the objects the server read.

Pure. A Job's `Failed` condition (BackoffLimitExceeded, DeadlineExceeded) with the failing
pod's termination and its last log lines is `JobFailed`; a CronJob whose schedule was due
without a run, whose last runs failed, or that is suspended is `CronJobFailing`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from policies.diagnosis import CronJobInfo, Issue, IssueType, JobInfo

from ..redaction import redact
from ._obj import Obj, clip, format_time, i, lst, m, parse_time, s
from .cron import localize, parse

LOG_LINES = 10
_SAW = "Saw completed job: "
_MISSED_REASONS = ("MissSchedule", "TooManyMissedTimes", "JobAlreadyActive")


def _condition(job: Obj, kind: str) -> Obj | None:
    for cond in lst(job, "status", "conditions"):
        if s(cond, "type") == kind and s(cond, "status") == "True":
            return cond
    return None


def _failing_container(pod: Obj) -> tuple[str | None, int | None, str | None]:
    """The container whose termination failed the pod: (name, exit code, reason)."""
    for cs in lst(pod, "status", "containerStatuses"):
        for state in (m(cs, "state"), m(cs, "lastState")):
            term = m(state, "terminated")
            code = i(term, "exitCode")
            if term and code not in (None, 0):
                return s(cs, "name"), code, s(term, "reason")
    return None, None, None


def _last_lines(text: str | None, limit: int = LOG_LINES) -> list[str]:
    if not text:
        return []
    lines = [line for line in text.splitlines() if line.strip()]
    return [clip(redact(line), 300) for line in lines[-limit:]]


def _owning_cronjob(job: Obj) -> str | None:
    return next(
        (
            s(ref, "name")
            for ref in lst(job, "metadata", "ownerReferences")
            if s(ref, "kind") == "CronJob" and ref.get("controller") is True
        ),
        None,
    )


def _log_text(logs: Mapping[str, str] | None, container: str | None) -> str | None:
    """The failing container's log text; a single container's text when it is unnamed."""
    texts = dict(logs or {})
    text = texts.get(container or "") if container else None
    if text is None and len(texts) == 1:
        text = next(iter(texts.values()))
    return text


def _job_failed_findings(info: JobInfo, namespace: str) -> tuple[list[Issue], list[str]]:
    """The `JobFailed` issue and the advice for a Job whose Failed condition holds."""
    name, container, code, cron = info.name, info.container, info.exit_code, info.cronjob
    why = info.reason or "Failed"
    term = (
        f"; container {container} exited {code} ({info.termination_reason or 'Error'})"
        if container is not None
        else ""
    )
    issue = Issue(
        severity="critical",
        type=IssueType.JOB_FAILED,
        container=container,
        reason=why,
        exit_code=code,
        message=clip(
            f"Job {name} failed: {why}: {info.message or 'no message'} "
            f"({info.pods_failed} failed pods, backoffLimit "
            f"{info.backoff_limit if info.backoff_limit is not None else 'unknown'})"
            f"{term}",
            500,
        ),
    )
    advice = [
        f"Read the failed pod's logs: kubectl logs job/{name} -n {namespace}; fix the "
        "cause before running the Job again",
        "The Job's pods are left in place (deleting them retries nothing and loses "
        "evidence); re-running it repeats its side effects: "
        + (
            f"kubectl create job --from=cronjob/{cron} {cron}-manual -n {namespace}"
            if cron
            else f"kubectl delete job {name} -n {namespace} and re-apply its manifest"
        )
        + " is a human's decision",
    ]
    return [issue], advice


def job_info(
    pod: Obj, job: Obj, *, logs: Mapping[str, str] | None = None
) -> tuple[JobInfo, list[Issue], list[str]]:
    """The Job's facts, a `JobFailed` issue when its Failed condition holds, and advice."""
    namespace = s(job, "metadata", "namespace") or s(pod, "metadata", "namespace") or ""
    failed = _condition(job, "Failed")
    container, code, reason = _failing_container(pod)
    info = JobInfo(
        name=s(job, "metadata", "name") or "",
        failed=failed is not None,
        complete=_condition(job, "Complete") is not None,
        reason=s(failed, "reason") if failed else None,
        message=clip(redact(s(failed, "message") or ""), 300) or None if failed else None,
        backoff_limit=i(job, "spec", "backoffLimit"),
        pods_failed=max(0, i(job, "status", "failed") or 0),
        pods_succeeded=max(0, i(job, "status", "succeeded") or 0),
        pods_active=max(0, i(job, "status", "active") or 0),
        restart_policy=s(job, "spec", "template", "spec", "restartPolicy"),
        container=container,
        exit_code=code,
        termination_reason=reason,
        last_log_lines=_last_lines(_log_text(logs, container)),
        cronjob=_owning_cronjob(job),
    )
    if failed is None:
        return info, [], []
    issues, advice = _job_failed_findings(info, namespace)
    return info, issues, advice


def _cronjob_base_info(cronjob: Obj) -> CronJobInfo:
    spec = m(cronjob, "spec")
    status = m(cronjob, "status")
    return CronJobInfo(
        name=s(cronjob, "metadata", "name") or "",
        schedule=s(spec, "schedule") or "",
        time_zone=s(spec, "timeZone"),
        suspended=spec.get("suspend") is True,
        concurrency_policy=s(spec, "concurrencyPolicy"),
        last_schedule_time=s(status, "lastScheduleTime"),
        last_successful_time=s(status, "lastSuccessfulTime"),
        active_jobs=[s(ref, "name") or "" for ref in lst(status, "active")],
    )


def _read_runs(info: CronJobInfo, events: Sequence[Obj], job: Obj | None) -> None:
    """Fill the missed-schedule events and the last runs' outcomes: the CronJob's
    `SawCompletedJob` events, then the Job read (its conditions are the latest word)."""
    own = [
        e
        for e in events
        if s(e, "involvedObject", "kind") == "CronJob"
        and s(e, "involvedObject", "name") == info.name
    ]
    own.sort(key=lambda e: s(e, "lastTimestamp") or s(e, "eventTime") or "")
    outcomes: dict[str, str] = {}
    for event in own:
        message = s(event, "message") or ""
        if s(event, "reason") == "SawCompletedJob" and message.startswith(_SAW):
            job_name, _, rest = message[len(_SAW) :].partition(",")
            outcomes[job_name.strip()] = rest.replace("status:", "").strip() or "unknown"
        if s(event, "reason") in _MISSED_REASONS:
            info.missed_events.append(clip(redact(f"{s(event, 'reason')}: {message}"), 300))
    if job is not None:
        job_name = s(job, "metadata", "name") or ""
        if _condition(job, "Failed") is not None:
            outcomes[job_name] = "Failed"
        elif _condition(job, "Complete") is not None:
            outcomes[job_name] = "Complete"
    info.recent_outcomes = [{"job": k, "status": v} for k, v in list(outcomes.items())[-5:]]


def _count_missed(info: CronJobInfo, cronjob: Obj, now: datetime | None) -> None:
    """Fill the due times the schedule passed without a run, on the server's clock."""
    cron = parse(info.schedule)
    last = parse_time(info.last_schedule_time) or parse_time(
        s(cronjob, "metadata", "creationTimestamp")
    )
    if cron is None or now is None or last is None or info.suspended:
        return
    due = cron.due_times(localize(last, info.time_zone), localize(now, info.time_zone))
    # A run is made within seconds of its time; one still unmade a minute on is missed.
    missed = [t for t in due if (now - t).total_seconds() > 60]
    info.missed_schedules = len(missed)
    if due:
        info.last_due_time = format_time(due[-1])


def _last_run_failed(info: CronJobInfo) -> bool:
    return bool(info.recent_outcomes) and info.recent_outcomes[-1]["status"] == "Failed"


def _cronjob_problems(info: CronJobInfo) -> list[str]:
    problems: list[str] = []
    if info.suspended:
        problems.append("suspended: no new runs are scheduled")
    if info.missed_schedules:
        problems.append(
            f"{info.missed_schedules} scheduled run(s) missed since lastScheduleTime "
            f"{info.last_schedule_time or 'never'} (schedule {info.schedule!r}"
            + (f", {info.concurrency_policy}" if info.concurrency_policy else "")
            + (f", active: {', '.join(info.active_jobs)}" if info.active_jobs else "")
            + ")"
        )
    if info.missed_events:
        problems.append(info.missed_events[-1])
    if _last_run_failed(info):
        failures = [o for o in info.recent_outcomes if o["status"] == "Failed"]
        problems.append(
            f"last run {info.recent_outcomes[-1]['job']} failed ({len(failures)} of the last "
            f"{len(info.recent_outcomes)} runs failed; last success "
            f"{info.last_successful_time or 'never'})"
        )
    return problems


def _cronjob_advice(info: CronJobInfo, namespace: str) -> list[str]:
    name = info.name
    advice = [
        f"Inspect the CronJob's runs: kubectl describe cronjob {name} -n {namespace}; "
        f"kubectl get jobs -n {namespace}"
    ]
    if info.suspended:
        advice.append(
            f"Resume it when it is safe: kubectl patch cronjob {name} -n {namespace} "
            '-p \'{"spec":{"suspend":false}}\''
        )
    if info.missed_schedules and info.active_jobs:
        advice.append(
            "A run still active blocks the schedule (concurrencyPolicy "
            f"{info.concurrency_policy or 'Allow'}): find why {info.active_jobs[-1]} "
            "does not finish"
        )
    return advice


def cronjob_info(
    cronjob: Obj,
    *,
    job: Obj | None = None,
    events: Sequence[Obj] = (),
    now: datetime | None = None,
) -> tuple[CronJobInfo, list[Issue], list[str]]:
    """The CronJob's schedule against its runs: missed due times (with the server's clock),
    `MissSchedule` / `TooManyMissedTimes` events, the last runs' outcomes (its
    `SawCompletedJob` events and the Job read), suspension."""
    info = _cronjob_base_info(cronjob)
    _read_runs(info, events, job)
    _count_missed(info, cronjob, now)
    problems = _cronjob_problems(info)
    if not problems:
        return info, [], []
    issue = Issue(
        severity="warning" if info.suspended and not _last_run_failed(info) else "critical",
        type=IssueType.CRONJOB_FAILING,
        message=clip(f"CronJob {info.name}: " + "; ".join(problems), 500),
    )
    namespace = s(cronjob, "metadata", "namespace") or ""
    return info, [issue], _cronjob_advice(info, namespace)
