"""CronJob controller (batch/v1), as kube-controller-manager 1.28's cronjob-controller-v2 runs it,
on the simulated clock.

At each unmet schedule time (the most recent one since `lastScheduleTime`, or since creation, and
no older than `startingDeadlineSeconds`) it creates the Job `<cronjob>-<scheduled minutes since
the epoch>` from `jobTemplate`, with the `batch.kubernetes.io/cronjob-scheduled-timestamp`
annotation, unless `suspend`; `concurrencyPolicy` Forbid skips while a Job runs (the run is
started late once it finishes, if still within the deadline), Replace deletes the running ones
first. Finished Jobs leave `status.active` (`SawCompletedJob`), set `lastSuccessfulTime`, and
beyond `successfulJobsHistoryLimit` / `failedJobsHistoryLimit` are deleted, oldest first.
"""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from kubesim import cron
from kubesim.api.batch import SCHEDULED_ANNOTATION, valid_time_zone
from kubesim.controllers.base import (
    Context,
    delete_pod,
    is_terminating,
    owned_by,
    owner_reference,
)
from kubesim.controllers.events import Source
from kubesim.controllers.job import finished_condition
from kubesim.store import CRONJOBS, JOBS, PODS, AlreadyExists, NotFound, Obj

try:
    from kubesim.api.batch import finish_job
    from kubesim.api.defaults import apply_defaults
except ImportError:  # pragma: no cover
    apply_defaults = None  # type: ignore[assignment]
    finish_job = None  # type: ignore[assignment]

CRONJOB_CONTROLLER = Source("cronjob-controller")
MAX_MISSED = 100


def job_name(cronjob: Obj, scheduled: datetime) -> str:
    """getJobName: the scheduled time in minutes since the epoch."""
    return f"{cronjob['metadata']['name']}-{int(scheduled.timestamp()) // 60}"


def rfc3339(moment: datetime) -> str:
    """Go's time.RFC3339 in the moment's own zone (`Z` for UTC)."""
    if moment.utcoffset() == timedelta(0):
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.isoformat(timespec="seconds")


class CronJobController:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._due: dict[str, float] = {}

    def next_due(self) -> float | None:
        return min(self._due.values(), default=None)

    def reconcile(self, now: float) -> bool:
        changed = False
        jobs_by_ns: dict[str, list[Obj]] = {}
        for job in self.ctx.store.iter_refs(JOBS):
            jobs_by_ns.setdefault(job["metadata"].get("namespace", ""), []).append(job)
        seen: set[str] = set()
        for cronjob in list(self.ctx.store.iter_refs(CRONJOBS)):
            uid = cronjob["metadata"]["uid"]
            seen.add(uid)
            self._due.pop(uid, None)
            namespace = cronjob["metadata"].get("namespace", "")
            owned = [j for j in jobs_by_ns.get(namespace, []) if owned_by(j, cronjob)]
            changed |= self._sync(cronjob, owned, now)
        for uid in list(self._due):
            if uid not in seen:
                self._due.pop(uid, None)
        return changed

    def _zone(self, cronjob: Obj) -> tzinfo | None:
        zone = (cronjob.get("spec") or {}).get("timeZone")
        if zone is None:
            return UTC  # the controller manager's local time zone
        if not valid_time_zone(str(zone)):
            return None
        return ZoneInfo(str(zone))

    def _sync(self, cronjob: Obj, owned: list[Obj], now: float) -> bool:
        spec = cronjob.get("spec") or {}
        status = copy.deepcopy(cronjob.get("status") or {})
        changed = False
        by_uid = {j["metadata"]["uid"]: j for j in owned}
        active = list(status.get("active") or [])
        active_uids = {a.get("uid") for a in active}
        for job in owned:
            kind = finished_condition(job)
            job_uid = job["metadata"]["uid"]
            if job_uid in active_uids and kind is not None:
                active = [a for a in active if a.get("uid") != job_uid]
                self.ctx.events.emit(
                    cronjob,
                    "Normal",
                    "SawCompletedJob",
                    f"Saw completed job: {job['metadata']['name']}, status: {kind}",
                    CRONJOB_CONTROLLER,
                    now,
                )
            if kind == "Complete":
                done = (job.get("status") or {}).get("completionTime")
                last = status.get("lastSuccessfulTime")
                if done and (
                    not last or (self.ctx.seconds(done) or 0) > (self.ctx.seconds(last) or 0)
                ):
                    status["lastSuccessfulTime"] = done
            elif kind is None and job_uid not in active_uids and not is_terminating(job):
                self.ctx.events.emit(
                    cronjob,
                    "Warning",
                    "UnexpectedJob",
                    "Saw a job that the controller did not create or forgot: "
                    f"{job['metadata']['name']}",
                    CRONJOB_CONTROLLER,
                    now,
                )
        for ref in list(active):
            if ref.get("uid") not in by_uid:
                active = [a for a in active if a is not ref]
                self.ctx.events.emit(
                    cronjob,
                    "Normal",
                    "MissingJob",
                    f"Active job went missing: {ref.get('name')}",
                    CRONJOB_CONTROLLER,
                    now,
                )
        self._set_active(status, active)
        if is_terminating(cronjob):
            return self._write(cronjob, status)
        changed |= self._schedule(cronjob, spec, status, owned, now)
        changed |= self._cleanup(cronjob, spec, owned, now)
        return self._write(cronjob, status) or changed

    @staticmethod
    def _set_active(status: Obj, active: list[Obj]) -> None:
        if active:
            status["active"] = active
        else:
            status.pop("active", None)

    def _schedule(self, cronjob: Obj, spec: Obj, status: Obj, owned: list[Obj], now: float) -> bool:
        zone = self._zone(cronjob)
        uid = cronjob["metadata"]["uid"]
        if zone is None:
            self.ctx.events.emit(
                cronjob,
                "Warning",
                "UnknownTimeZone",
                f"invalid timeZone: {spec.get('timeZone')!r}: unknown time zone "
                f"{spec.get('timeZone')}",
                CRONJOB_CONTROLLER,
                now,
            )
            return False
        if spec.get("suspend"):
            return False
        try:
            schedule = cron.parse(str(spec.get("schedule") or ""))
        except cron.CronError as exc:
            self.ctx.events.emit(
                cronjob,
                "Warning",
                "InvalidSchedule",
                f"invalid schedule: {spec.get('schedule')} : {exc}",
                CRONJOB_CONTROLLER,
                now,
            )
            return False
        now_dt = self.ctx.clock.now() + timedelta(seconds=now - self.ctx.clock.seconds())
        now_dt = now_dt.astimezone(zone)
        earliest_s = self.ctx.seconds(status.get("lastScheduleTime")) or self.ctx.seconds(
            cronjob["metadata"].get("creationTimestamp")
        )
        earliest = now_dt if earliest_s is None else now_dt - timedelta(seconds=now - earliest_s)
        deadline = spec.get("startingDeadlineSeconds")
        if deadline is not None:
            window = now_dt - timedelta(seconds=int(deadline))
            earliest = max(earliest, window)
        scheduled: datetime | None = None
        missed = 0
        t = schedule.next_after(earliest.astimezone(zone))
        while t is not None and t <= now_dt:
            scheduled = t
            missed += 1
            if missed > MAX_MISSED + 1:
                break
            t = schedule.next_after(t)
        upcoming = schedule.next_after(now_dt)
        if upcoming is not None:
            self._due[uid] = now + (upcoming - now_dt).total_seconds()
        if scheduled is None:
            return False
        changed = False
        if missed > MAX_MISSED:
            self.ctx.events.emit(
                cronjob,
                "Warning",
                "TooManyMissedTimes",
                f"too many missed start times: {missed}. Set or decrease "
                ".spec.startingDeadlineSeconds or check clock skew",
                CRONJOB_CONTROLLER,
                now,
            )
        if deadline is not None and scheduled + timedelta(seconds=int(deadline)) < now_dt:
            stamp = scheduled.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
            self.ctx.events.emit(
                cronjob,
                "Warning",
                "MissSchedule",
                f"Missed scheduled time to start a job: {stamp}",
                CRONJOB_CONTROLLER,
                now,
            )
            return False
        name = job_name(cronjob, scheduled)
        active = list(status.get("active") or [])
        if any(a.get("name") == name for a in active):
            return False
        policy = spec.get("concurrencyPolicy") or "Allow"
        if policy == "Forbid" and active:
            # the run waits: it starts once the running Job is done, if still within the deadline
            return False
        if policy == "Replace":
            for ref in active:
                job = next((j for j in owned if j["metadata"]["uid"] == ref.get("uid")), None)
                if job is not None and self._delete_job(cronjob, job, now):
                    changed = True
            active = []
            self._set_active(status, active)
        job = self._create_job(cronjob, spec, scheduled, name, now)
        if job is None:
            return changed
        active.append(
            {
                "kind": "Job",
                "namespace": job["metadata"].get("namespace", ""),
                "name": job["metadata"]["name"],
                "uid": job["metadata"]["uid"],
                "apiVersion": "batch/v1",
                "resourceVersion": job["metadata"].get("resourceVersion", ""),
            }
        )
        self._set_active(status, active)
        status["lastScheduleTime"] = scheduled.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return True

    def _create_job(
        self, cronjob: Obj, spec: Obj, scheduled: datetime, name: str, now: float
    ) -> Obj | None:
        template = copy.deepcopy(spec.get("jobTemplate") or {})
        tmeta = template.get("metadata") or {}
        meta: dict[str, Any] = {"name": name, "namespace": cronjob["metadata"].get("namespace", "")}
        if tmeta.get("labels"):
            meta["labels"] = dict(tmeta["labels"])
        annotations = dict(tmeta.get("annotations") or {})
        annotations[SCHEDULED_ANNOTATION] = rfc3339(scheduled)
        meta["annotations"] = annotations
        meta["ownerReferences"] = [owner_reference(cronjob)]
        job: Obj = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": meta,
            "spec": template.get("spec") or {},
        }
        if apply_defaults is not None:
            apply_defaults("Job", job, self.ctx.kube)
            job["status"] = {}
        meta["uid"] = str(uuid.uuid4())
        if finish_job is not None:
            finish_job(job)
        try:
            created = self.ctx.store.create(JOBS, job, keep_metadata=True)
        except AlreadyExists:
            return None
        self.ctx.events.emit(
            cronjob, "Normal", "SuccessfulCreate", f"Created job {name}", CRONJOB_CONTROLLER, now
        )
        return created

    def _delete_job(self, cronjob: Obj, job: Obj, now: float) -> bool:
        namespace = job["metadata"].get("namespace", "")
        try:
            self.ctx.store.delete(JOBS, namespace, job["metadata"]["name"])
        except NotFound:
            return False
        for pod in list(self.ctx.store.iter_refs(PODS, namespace)):
            if owned_by(pod, job):
                delete_pod(self.ctx, pod, now)
        self.ctx.events.emit(
            cronjob,
            "Normal",
            "SuccessfulDelete",
            f"Deleted job {job['metadata']['name']}",
            CRONJOB_CONTROLLER,
            now,
        )
        return True

    def _cleanup(self, cronjob: Obj, spec: Obj, owned: list[Obj], now: float) -> bool:
        changed = False
        for kind, key in (
            ("Complete", "successfulJobsHistoryLimit"),
            ("Failed", "failedJobsHistoryLimit"),
        ):
            limit = spec.get(key)
            if limit is None:
                continue
            finished = [
                j
                for j in owned
                if finished_condition(j) == kind
                and self.ctx.store.peek(
                    JOBS, j["metadata"].get("namespace", ""), j["metadata"]["name"]
                )
                is not None
            ]
            if len(finished) <= int(limit):
                continue

            def started(job: Obj) -> tuple[int, str, str]:
                start = (job.get("status") or {}).get("startTime")
                return (0 if start else 1, start or "", job["metadata"]["name"])

            finished.sort(key=started)
            for job in finished[: len(finished) - int(limit)]:
                changed |= self._delete_job(cronjob, job, now)
        return changed

    def _write(self, cronjob: Obj, status: Obj) -> bool:
        ordered: Obj = {
            k: status[k]
            for k in ("active", "lastScheduleTime", "lastSuccessfulTime")
            if k in status
        }
        ordered.update({k: v for k, v in status.items() if k not in ordered})
        if cronjob.get("status") == ordered:
            return False

        def change(current: Obj) -> None:
            current["status"] = ordered

        try:
            self.ctx.store.mutate(
                CRONJOBS,
                cronjob["metadata"].get("namespace", ""),
                cronjob["metadata"]["name"],
                change,
            )
        except NotFound:
            return False
        return True
