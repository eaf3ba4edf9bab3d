"""The decision table's rollout rows: image pulls, configuration problems, crash loops
(pod deletes and rollbacks)."""

from __future__ import annotations

from policies.actions import Action, Risk
from policies.diagnosis import IssueType
from policies.facts import CONFIG_PROBLEM_TYPES, IMAGE_PULL_TYPES, ROLLBACK_KINDS
from policies.rule_context import Choice, RulesContext, clip, investigate, with_investigate


def image_pull(rules: RulesContext) -> Choice:
    d = rules.d
    issue = next(i for i in rules.f.issues if i.type in IMAGE_PULL_TYPES)
    pulls = clip(", ".join(f"{p.image} ({p.error_class})" for p in d.image_pull) or issue.message)
    check = Choice(
        Action.CHECK_IMAGE_AVAILABILITY,
        f"image cannot be pulled: {pulls or 'see events'}",
        0.9,
        Risk.LOW,
        issue.type,
    )
    workload = rules.f.workload
    if workload is not None and workload.kind in ROLLBACK_KINDS:
        rollout = workload.rollout
        if (
            rollout.image_changed_in_latest_rollout
            and rollout.previous_revision_healthy
            and rollout.previous_revision is not None
            and not rules.done_recently(Action.ROLLBACK_DEPLOYMENT)
        ):
            choice = Choice(
                Action.ROLLBACK_DEPLOYMENT,
                f"image changed in the latest rollout and cannot be pulled ({pulls}); "
                f"revision {rollout.previous_revision} ran healthy",
                0.85,
                Risk.MEDIUM,
                issue.type,
                target=rules.workload_target(),
                parameters={"revision": rollout.previous_revision},
            )
            return with_investigate(choice, check)
    return with_investigate(check)


def config_problem(rules: RulesContext) -> Choice:
    issue = next(i for i in rules.f.issues if i.type in CONFIG_PROBLEM_TYPES)
    workload = rules.f.workload
    began = workload is not None and workload.rollout.failure_began_with_latest_rollout
    note = "; it began with the latest rollout" if began else ""
    return investigate(
        f"{issue.type}: a configuration problem a restart cannot fix"
        f" ({clip(issue.message or 'see the diagnosis')}){note}",
        issue.type,
    )


def _delete_pod(rules: RulesContext, restarts: int) -> Choice:
    delete = Choice(
        Action.DELETE_POD,
        f"CrashLoopBackOff with {restarts} restarts; {rules.f.key} recreates the pod",
        0.9,
        Risk.LOW,
        IssueType.CRASH_LOOP,
    )
    pod_uid = rules.d.pod_uid
    if pod_uid:
        delete.parameters["pod_uid"] = pod_uid
    return delete


def _rollback(rules: RulesContext, deleted: int) -> Choice | None:
    """A rollback when the crash loop began with the latest rollout and the revision before
    ran healthy, or deleting the pod did not help; None otherwise."""
    workload = rules.f.workload
    assert workload is not None
    rollout = workload.rollout
    began_with_rollout = (
        workload.kind in ROLLBACK_KINDS
        and rollout.failure_began_with_latest_rollout
        and rollout.previous_revision is not None
    )
    if not began_with_rollout or rollout.previous_revision is None:
        return None
    if rollout.previous_revision_healthy:
        reason = (
            f"crash loop began with the latest rollout; revision "
            f"{rollout.previous_revision} ran healthy"
        )
    elif deleted:
        reason = "deleting the pod did not heal a crash loop that began with the latest rollout"
    else:
        return None
    return Choice(
        Action.ROLLBACK_DEPLOYMENT,
        reason,
        0.85 if rollout.previous_revision_healthy else 0.75,
        Risk.MEDIUM,
        IssueType.CRASH_LOOP,
        target=rules.workload_target(),
        parameters={"revision": rollout.previous_revision},
    )


def crash_loop(rules: RulesContext) -> Choice:
    kind = IssueType.CRASH_LOOP
    restarts = rules.f.restarts
    threshold = rules.policy.restart_threshold
    if restarts <= threshold:
        return investigate(
            f"crash loop with {restarts} restarts, not above the threshold of {threshold}; "
            "look again later",
            kind,
            0.6,
        )
    if rules.f.workload is None:
        return investigate(
            f"bare pod crash-looping ({restarts} restarts): nothing would recreate it",
            kind,
        )
    if rules.done_recently(Action.ROLLBACK_DEPLOYMENT):
        return investigate(f"still crash-looping ({restarts} restarts) after a rollback", kind, 0.9)
    deleted = rules.done_recently(Action.DELETE_POD)
    delete = _delete_pod(rules, restarts)
    rollback = _rollback(rules, deleted)
    if rollback is not None:
        return with_investigate(rollback, *([] if deleted else [delete]))
    if deleted:
        return investigate(
            f"still crash-looping ({restarts} restarts) after the pod was deleted: "
            "a restart does not fix it",
            kind,
            0.9,
        )
    return with_investigate(delete)
