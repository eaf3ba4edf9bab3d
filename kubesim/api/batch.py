"""batch/v1 Jobs and CronJobs as the API server defaults and validates them (1.28).

A Job gets its generated selector (`batch.kubernetes.io/controller-uid`) and the four
`controller-uid` / `job-name` labels on its template (and on itself when it has none), once the
store has given it a uid: `finish_job` runs after the object is stored, as the real strategy's
`generateSelector` runs after the uid is filled in.
"""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kubesim import cron

Obj = dict[str, Any]
Cause = tuple[str, str, str]

UID_LABEL = "batch.kubernetes.io/controller-uid"
NAME_LABEL = "batch.kubernetes.io/job-name"
LEGACY_UID_LABEL = "controller-uid"
LEGACY_NAME_LABEL = "job-name"
SCHEDULED_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"

# Go struct order of JobSpec / CronJobSpec, so objects serialise as the server writes them.
_JOB_SPEC_ORDER = (
    "parallelism",
    "completions",
    "activeDeadlineSeconds",
    "podFailurePolicy",
    "backoffLimit",
    "backoffLimitPerIndex",
    "maxFailedIndexes",
    "selector",
    "manualSelector",
    "template",
    "ttlSecondsAfterFinished",
    "completionMode",
    "suspend",
    "podReplacementPolicy",
)
_CRONJOB_SPEC_ORDER = (
    "schedule",
    "timeZone",
    "startingDeadlineSeconds",
    "concurrencyPolicy",
    "suspend",
    "jobTemplate",
    "successfulJobsHistoryLimit",
    "failedJobsHistoryLimit",
)
_JOB_STATUS_ORDER = (
    "conditions",
    "startTime",
    "completionTime",
    "active",
    "succeeded",
    "failed",
    "terminating",
    "completedIndexes",
    "failedIndexes",
    "uncountedTerminatedPods",
    "ready",
)
CRONJOB_NAME_MAX = 52


def ordered(obj: Obj, order: tuple[str, ...]) -> Obj:
    out = {k: obj[k] for k in order if k in obj}
    out.update({k: v for k, v in obj.items() if k not in out})
    return out


def job_status(status: Obj) -> Obj:
    return ordered(status, _JOB_STATUS_ORDER)


def default_job_spec(spec: Obj, template_defaults: Any) -> None:
    """SetDefaults_Job (in place, key order kept as the server's)."""
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    spec.setdefault("parallelism", 1)
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = 2147483647 if spec.get("backoffLimitPerIndex") is not None else 6
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    template_defaults(spec.setdefault("template", {}))
    reordered = ordered(spec, _JOB_SPEC_ORDER)
    spec.clear()
    spec.update(reordered)


def default_job(job: Obj, template_defaults: Any) -> None:
    spec = job.get("spec")
    if isinstance(spec, dict):
        default_job_spec(spec, template_defaults)


def default_cronjob(cronjob: Obj, template_defaults: Any) -> None:
    spec = cronjob.get("spec")
    if not isinstance(spec, dict):
        return
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    job_template = spec.setdefault("jobTemplate", {})
    job_template.setdefault("metadata", {}).setdefault("creationTimestamp", None)
    template_defaults(job_template.setdefault("spec", {}).setdefault("template", {}))
    reordered = ordered(spec, _CRONJOB_SPEC_ORDER)
    spec.clear()
    spec.update(reordered)


def finish_job(job: Obj) -> bool:
    """generateSelector once the Job has its uid (unless `manualSelector`); True if changed."""
    spec = job.get("spec")
    meta = job.get("metadata") or {}
    uid = meta.get("uid")
    if not isinstance(spec, dict) or not uid or spec.get("manualSelector") is True:
        return False
    if spec.get("selector"):
        return False
    template = spec.setdefault("template", {})
    tmeta = template.setdefault("metadata", {})
    labels = dict(tmeta.get("labels") or {})
    labels[UID_LABEL] = uid
    labels[NAME_LABEL] = meta["name"]
    labels[LEGACY_UID_LABEL] = uid
    labels[LEGACY_NAME_LABEL] = meta["name"]
    tmeta["labels"] = dict(sorted(labels.items()))
    spec["selector"] = {"matchLabels": {UID_LABEL: uid}}
    if not meta.get("labels"):
        meta["labels"] = dict(tmeta["labels"])
    reordered = ordered(spec, _JOB_SPEC_ORDER)
    spec.clear()
    spec.update(reordered)
    return True


# -- validation ---------------------------------------------------------------------------
def _nonnegative(spec: Obj, key: str, where: str) -> list[Cause]:
    value = spec.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        return [
            (
                "FieldValueInvalid",
                f"{where}.{key}",
                f"Invalid value: {value}: must be greater than or equal to 0",
            )
        ]
    return []


def _restart_policy(template: Obj, where: str) -> list[Cause]:
    policy = (template.get("spec") or {}).get("restartPolicy") or "Always"
    if policy in ("OnFailure", "Never"):
        return []
    return [
        (
            "FieldValueNotSupported",
            f"{where}.template.spec.restartPolicy",
            f'Unsupported value: "{policy}": supported values: "OnFailure", "Never"',
        )
    ]


def job_spec_causes(spec: Any, where: str = "spec") -> list[Cause]:
    if not isinstance(spec, dict):
        return [("FieldValueRequired", f"{where}.template", "Required value")]
    causes: list[Cause] = []
    for key in ("parallelism", "completions", "activeDeadlineSeconds", "backoffLimit"):
        causes += _nonnegative(spec, key, where)
    ttl = spec.get("ttlSecondsAfterFinished")
    if isinstance(ttl, int) and ttl < 0:
        causes += _nonnegative(spec, "ttlSecondsAfterFinished", where)
    mode = spec.get("completionMode")
    if mode not in (None, "NonIndexed", "Indexed"):
        causes.append(
            (
                "FieldValueNotSupported",
                f"{where}.completionMode",
                f'Unsupported value: "{mode}": supported values: "NonIndexed", "Indexed"',
            )
        )
    if mode == "Indexed" and spec.get("completions") is None:
        causes.append(
            (
                "FieldValueRequired",
                f"{where}.completions",
                "Required value: when completion mode is Indexed",
            )
        )
    causes += _restart_policy(spec.get("template") or {}, where)
    return causes


def job_causes(job: Obj) -> list[Cause]:
    return job_spec_causes(job.get("spec"))


def cronjob_causes(cronjob: Obj) -> list[Cause]:
    meta = cronjob.get("metadata") or {}
    causes: list[Cause] = []
    name = str(meta.get("name") or "")
    if len(name) > CRONJOB_NAME_MAX:
        causes.append(
            (
                "FieldValueInvalid",
                "metadata.name",
                f'Invalid value: "{name}": must be no more than {CRONJOB_NAME_MAX} characters',
            )
        )
    spec = cronjob.get("spec")
    if not isinstance(spec, dict):
        return [*causes, ("FieldValueRequired", "spec.schedule", "Required value")]
    schedule = spec.get("schedule")
    if not schedule:
        causes.append(("FieldValueRequired", "spec.schedule", "Required value"))
    else:
        text = str(schedule)
        if re.search(r"\bTZ=|\bCRON_TZ=", text):
            causes.append(
                (
                    "FieldValueInvalid",
                    "spec.schedule",
                    f'Invalid value: "{text}": cannot use TZ or CRON_TZ in schedule, use timeZone '
                    "field instead",
                )
            )
        else:
            try:
                cron.parse(text)
            except cron.CronError as exc:
                causes.append(
                    ("FieldValueInvalid", "spec.schedule", f'Invalid value: "{text}": {exc}')
                )
    zone = spec.get("timeZone")
    if zone is not None and not valid_time_zone(str(zone)):
        causes.append(
            (
                "FieldValueInvalid",
                "spec.timeZone",
                f'Invalid value: "{zone}": unknown time zone {zone}',
            )
        )
    policy = spec.get("concurrencyPolicy")
    if policy not in (None, "Allow", "Forbid", "Replace"):
        causes.append(
            (
                "FieldValueNotSupported",
                "spec.concurrencyPolicy",
                f'Unsupported value: "{policy}": supported values: "Allow", "Forbid", "Replace"',
            )
        )
    for key in ("startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        causes += _nonnegative(spec, key, "spec")
    job_spec = (spec.get("jobTemplate") or {}).get("spec")
    causes += job_spec_causes(job_spec, "spec.jobTemplate.spec")
    return causes


def valid_time_zone(zone: str) -> bool:
    if zone in ("", "Local") or zone.startswith(("/", ".")) or ".." in zone:
        return False
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True
