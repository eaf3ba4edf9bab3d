"""Job controller (batch/v1), as kube-controller-manager 1.28 runs it, and the TTL-after-finished
controller.

Pods `<job>-<5 chars>` from the template, up to `parallelism` at a time and no more than the
completions still missing. A failed pod is replaced after the pod failure back-off (10 s,
doubling per failure since the last success, capped at 6 min) from its failure time; more failed
pods than `backoffLimit` (or, under `restartPolicy: OnFailure`, as many container restarts) fail
the Job (`Failed`, `BackoffLimitExceeded`), as does `activeDeadlineSeconds` (`DeadlineExceeded`).
`completions` succeeded pods complete it (`Complete`, `completionTime`). Pods carry the
`batch.kubernetes.io/job-tracking` finalizer until the controller has counted them.
"""

from __future__ import annotations

import copy
from typing import Any

from kubesim.api.batch import job_status
from kubesim.controllers.base import (
    Context,
    delete_pod,
    is_terminating,
    owned_by,
    owner_reference,
    pod_is_ready,
)
from kubesim.controllers.events import Source
from kubesim.store import JOBS, PODS, AlreadyExists, NotFound, Obj

try:  # the API server's defaulting, so controller-made pods look like client-made ones
    from kubesim.api.defaults import apply_defaults, initial_status
except ImportError:  # pragma: no cover
    apply_defaults = None  # type: ignore[assignment]
    initial_status = None  # type: ignore[assignment]

JOB_CONTROLLER = Source("job-controller")
TTL_CONTROLLER = Source("ttl-after-finished-controller")
TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
BACKOFF_BASE = 10.0
BACKOFF_MAX = 360.0
BACKOFF_MESSAGE = "Job has reached the specified backoff limit"
DEADLINE_MESSAGE = "Job was active longer than specified deadline"


def finished_condition(job: Obj) -> str | None:
    """ "Complete" or "Failed" when the Job has finished, else None."""
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") in ("Complete", "Failed") and cond.get("status") == "True":
            return str(cond["type"])
    return None


def finish_time(ctx: Context, job: Obj) -> float | None:
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") in ("Complete", "Failed") and cond.get("status") == "True":
            return ctx.seconds(cond.get("lastTransitionTime"))
    return None


def _pod_failed_at(ctx: Context, pod: Obj, now: float) -> float:
    latest: float | None = None
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        term = (cs.get("state") or {}).get("terminated") or {}
        at = ctx.seconds(term.get("finishedAt"))
        if at is not None and (latest is None or at > latest):
            latest = at
    return latest if latest is not None else now


def _int(value: Any, default: int) -> int:
    return int(value) if isinstance(value, int | float | str) else default


class JobController:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        # per Job uid: (failures since the last success, time of the last failure)
        self._backoff: dict[str, tuple[int, float]] = {}
        self._due: dict[str, float] = {}

    def next_due(self) -> float | None:
        return min(self._due.values(), default=None)

    def reconcile(self, now: float) -> bool:
        changed = False
        pods_by_ns: dict[str, list[Obj]] = {}
        for pod in self.ctx.store.iter_refs(PODS):
            ref = pod["metadata"].get("ownerReferences")
            if ref and any(r.get("kind") == "Job" for r in ref):
                pods_by_ns.setdefault(pod["metadata"].get("namespace", ""), []).append(pod)
        seen: set[str] = set()
        for job in list(self.ctx.store.iter_refs(JOBS)):
            uid = job["metadata"]["uid"]
            seen.add(uid)
            self._due.pop(uid, None)
            namespace = job["metadata"].get("namespace", "")
            owned = [p for p in pods_by_ns.get(namespace, []) if owned_by(p, job)]
            changed |= self._sync(job, owned, now)
        for uid in list(self._backoff):
            if uid not in seen:
                self._backoff.pop(uid, None)
        for uid in list(self._due):
            if uid not in seen:
                self._due.pop(uid, None)
        return changed

    # -- one Job ----------------------------------------------------------------------------
    def _sync(self, job: Obj, owned: list[Obj], now: float) -> bool:
        if is_terminating(job):
            return False
        uid = job["metadata"]["uid"]
        if finished_condition(job) is not None:
            changed = self._count(job, owned, now)[0]
            return self._ttl(job, now) or changed
        spec = job.get("spec") or {}
        status = copy.deepcopy(job.get("status") or {})
        changed, status = self._count(job, owned, now, status)
        active = [
            p
            for p in owned
            if not is_terminating(p)
            and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
        ]
        suspended = bool(spec.get("suspend"))
        if suspended:
            for pod in active:
                changed |= self._delete(job, pod, now)
            active = []
            changed |= self._suspend_condition(job, status, True, now)
        else:
            changed |= self._suspend_condition(job, status, False, now)
            if not status.get("startTime"):
                status["startTime"] = self.ctx.stamp(now)
        succeeded = int(status.get("succeeded") or 0)
        failed = int(status.get("failed") or 0)
        completions = spec.get("completions")
        parallelism = _int(spec.get("parallelism"), 1)
        backoff_limit = _int(spec.get("backoffLimit"), 6)
        failure: tuple[str, str] | None = None
        if failed > backoff_limit or self._restarts_exceed(spec, active, backoff_limit):
            failure = ("BackoffLimitExceeded", BACKOFF_MESSAGE)
        deadline = spec.get("activeDeadlineSeconds")
        start = self.ctx.seconds(status.get("startTime"))
        if failure is None and deadline is not None and start is not None and not suspended:
            if now >= start + int(deadline):
                failure = ("DeadlineExceeded", DEADLINE_MESSAGE)
            else:
                self._due[uid] = start + int(deadline)
        complete = False
        if failure is None:
            if completions is not None:
                complete = succeeded >= int(completions)
            else:
                complete = succeeded > 0 and not active
        if failure is not None:
            for pod in active:
                if self._delete(job, pod, now):
                    status["failed"] = int(status.get("failed") or 0) + 1
                    changed = True
            active = []
            reason, message = failure
            self._finish(status, "Failed", now, reason, message)
            self.ctx.events.emit(job, "Warning", reason, message, JOB_CONTROLLER, now)
            changed = True
        elif complete:
            for pod in active:
                changed |= self._delete(job, pod, now)
            active = []
            self._finish(status, "Complete", now)
            status["completionTime"] = self.ctx.stamp(now)
            self.ctx.events.emit(job, "Normal", "Completed", "Job completed", JOB_CONTROLLER, now)
            changed = True
        elif not suspended:
            if completions is not None:
                wanted = min(parallelism, int(completions) - succeeded)
            else:
                wanted = 0 if succeeded > 0 else parallelism
            missing = wanted - len(active)
            if missing > 0:
                ready_at = self._backoff_ready_at(uid)
                if ready_at is not None and now < ready_at:
                    self._due[uid] = min(self._due.get(uid, ready_at), ready_at)
                else:
                    for _ in range(missing):
                        created = self._create_pod(job, now)
                        if created is not None:
                            active.append(created)
                            changed = True
            elif missing < 0:
                for pod in sorted(active, key=lambda p: p["metadata"]["name"])[:-missing]:
                    changed |= self._delete(job, pod, now)
                    active = [p for p in active if p is not pod]
        self._set_counts(status, active)
        if self._write(job, status):
            changed = True
        return changed

    def _count(
        self, job: Obj, owned: list[Obj], now: float, status: Obj | None = None
    ) -> tuple[bool, Obj]:
        """Count finished pods that still hold the tracking finalizer, then release them."""
        status = status if status is not None else copy.deepcopy(job.get("status") or {})
        uid = job["metadata"]["uid"]
        changed = False
        for pod in owned:
            finalizers = pod["metadata"].get("finalizers") or []
            if TRACKING_FINALIZER not in finalizers:
                continue
            phase = (pod.get("status") or {}).get("phase")
            if phase == "Succeeded":
                status["succeeded"] = int(status.get("succeeded") or 0) + 1
                self._backoff[uid] = (0, now)
            elif phase == "Failed" or is_terminating(pod):
                status["failed"] = int(status.get("failed") or 0) + 1
                failures, _ = self._backoff.get(uid, (0, now))
                self._backoff[uid] = (failures + 1, _pod_failed_at(self.ctx, pod, now))
            else:
                continue
            self._release(pod)
            changed = True
        return changed, status

    def _release(self, pod: Obj) -> None:
        def drop(current: Obj) -> None:
            kept = [
                f for f in current["metadata"].get("finalizers") or [] if f != TRACKING_FINALIZER
            ]
            if kept:
                current["metadata"]["finalizers"] = kept
            else:
                current["metadata"].pop("finalizers", None)

        try:
            self.ctx.store.mutate(
                PODS, pod["metadata"].get("namespace", ""), pod["metadata"]["name"], drop
            )
        except NotFound:
            pass

    def _backoff_ready_at(self, uid: str) -> float | None:
        failures, last = self._backoff.get(uid, (0, 0.0))
        if failures <= 0:
            return None
        delay = min(BACKOFF_BASE * 2.0 ** (failures - 1), BACKOFF_MAX)
        return float(last + delay)

    @staticmethod
    def _restarts_exceed(spec: Obj, active: list[Obj], limit: int) -> bool:
        template_spec = (spec.get("template") or {}).get("spec") or {}
        if template_spec.get("restartPolicy") != "OnFailure":
            return False
        restarts = 0
        for pod in active:
            status = pod.get("status") or {}
            for cs in (status.get("initContainerStatuses") or []) + (
                status.get("containerStatuses") or []
            ):
                restarts += int(cs.get("restartCount") or 0)
        if limit == 0:
            return restarts > 0
        return restarts >= limit

    def _finish(
        self,
        status: Obj,
        type_: str,
        now: float,
        reason: str | None = None,
        message: str | None = None,
    ) -> None:
        stamp = self.ctx.stamp(now)
        cond: Obj = {
            "type": type_,
            "status": "True",
            "lastProbeTime": stamp,
            "lastTransitionTime": stamp,
        }
        if reason:
            cond["reason"] = reason
            cond["message"] = message or ""
        status.setdefault("conditions", []).append(cond)

    def _suspend_condition(self, job: Obj, status: Obj, suspended: bool, now: float) -> bool:
        conditions = status.get("conditions") or []
        current = next((c for c in conditions if c.get("type") == "Suspended"), None)
        if suspended and (current is None or current.get("status") != "True"):
            stamp = self.ctx.stamp(now)
            fresh = {
                "type": "Suspended",
                "status": "True",
                "lastProbeTime": stamp,
                "lastTransitionTime": stamp,
                "reason": "JobSuspended",
                "message": "Job suspended",
            }
            status["conditions"] = [c for c in conditions if c.get("type") != "Suspended"] + [fresh]
            status.pop("startTime", None)
            self.ctx.events.emit(job, "Normal", "Suspended", "Job suspended", JOB_CONTROLLER, now)
            return True
        if not suspended and current is not None and current.get("status") == "True":
            stamp = self.ctx.stamp(now)
            current.update(
                {
                    "status": "False",
                    "lastProbeTime": stamp,
                    "lastTransitionTime": stamp,
                    "reason": "JobResumed",
                    "message": "Job resumed",
                }
            )
            status["conditions"] = conditions
            self.ctx.events.emit(job, "Normal", "Resumed", "Job resumed", JOB_CONTROLLER, now)
            return True
        return False

    @staticmethod
    def _set_counts(status: Obj, active: list[Obj]) -> None:
        if active:
            status["active"] = len(active)
        else:
            status.pop("active", None)
        for key in ("succeeded", "failed"):
            if not status.get(key):
                status.pop(key, None)
        status["uncountedTerminatedPods"] = {}
        status["ready"] = sum(1 for p in active if pod_is_ready(p))

    def _write(self, job: Obj, status: Obj) -> bool:
        status = job_status(status)
        if job.get("status") == status:
            return False

        def change(current: Obj) -> None:
            current["status"] = status

        try:
            self.ctx.store.mutate(
                JOBS, job["metadata"].get("namespace", ""), job["metadata"]["name"], change
            )
        except NotFound:
            return False
        return True

    def _delete(self, job: Obj, pod: Obj, now: float) -> bool:
        if not delete_pod(self.ctx, pod, now):
            return False
        self._release(pod)
        self.ctx.events.emit(
            job,
            "Normal",
            "SuccessfulDelete",
            f"Deleted pod: {pod['metadata']['name']}",
            JOB_CONTROLLER,
            now,
        )
        return True

    def _create_pod(self, job: Obj, now: float) -> Obj | None:
        template = copy.deepcopy((job.get("spec") or {}).get("template") or {})
        tmeta = template.get("metadata") or {}
        name = f"{job['metadata']['name']}-{self.ctx.random_suffix()}"
        meta: dict[str, Any] = {
            "name": name,
            "generateName": f"{job['metadata']['name']}-",
            "namespace": job["metadata"].get("namespace", "default"),
            "labels": dict(tmeta.get("labels") or {}),
        }
        if tmeta.get("annotations"):
            meta["annotations"] = dict(tmeta["annotations"])
        meta["ownerReferences"] = [owner_reference(job)]
        meta["finalizers"] = [TRACKING_FINALIZER]
        pod: Obj = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": meta,
            "spec": template.get("spec") or {},
        }
        if apply_defaults is not None and initial_status is not None:
            apply_defaults("Pod", pod, self.ctx.kube)
            pod["status"] = initial_status("Pod", pod) or {"phase": "Pending"}
        else:
            pod["status"] = {"phase": "Pending"}
        try:
            created = self.ctx.store.create(PODS, pod)
        except AlreadyExists:
            return None
        self.ctx.events.emit(
            job, "Normal", "SuccessfulCreate", f"Created pod: {name}", JOB_CONTROLLER, now
        )
        return created

    # -- ttlSecondsAfterFinished -------------------------------------------------------------
    def _ttl(self, job: Obj, now: float) -> bool:
        ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
        finished = finish_time(self.ctx, job)
        if ttl is None or finished is None:
            return False
        expires = finished + int(ttl)
        if now < expires:
            self._due[job["metadata"]["uid"]] = expires
            return False
        namespace = job["metadata"].get("namespace", "")
        try:
            self.ctx.store.delete(JOBS, namespace, job["metadata"]["name"])
        except NotFound:
            return False
        for pod in list(self.ctx.store.iter_refs(PODS, namespace)):
            if owned_by(pod, job):
                delete_pod(self.ctx, pod, now)
        return True
