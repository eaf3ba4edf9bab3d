"""Computing an approval's preview: the exact change, checked by the API server, and why.

When a destructive plan asks for a human, the executor re-reads the plan's facts and hands
them here. The plan's write is sent with `dryRun=All` (the API server runs admission,
validation and defaulting, and stores nothing); its answer is the object as the write would
leave it, and the preview is the difference between that and what is there now:

- a memory raise or a rollback: the fields of the workload's (Deployment, StatefulSet,
  DaemonSet) pod template that change
  (images, env, args, resources, ...), by a small recursive diff of `spec.template` that keys
  named list entries by name (`containers[web]`, `env[LOG_LEVEL]`) and skips the
  `pod-template-hash` label;
- a scale-down: the replica count;
- a pod delete: the pod, and the owner that recreates it (from its ownerReferences).

A dry run the API server refuses (4xx other than a moved precondition) is `dry_run_rejected`
and no approval is asked for. The evidence comes from the diagnosis the plan was made on (its
inputs are kept by the planner's memo), passed through the redactor and bounded, because log
and event lines are untrusted text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mcp_server.cluster_writer import ClusterWriter, Fresh
from mcp_server.diagnostics.resources import memory_bytes
from mcp_server.errors import ErrorCode
from mcp_server.gateway import Conflict, GatewayError, NotFound
from mcp_server.plans import Plan
from mcp_server.pod_diagnosis import diagnose_inputs
from mcp_server.preview import (
    ChangePreview,
    Deletion,
    DryRun,
    Evidence,
    FieldChange,
    RuleDecision,
)
from mcp_server.redaction import REDACTED, redact
from mcp_server.state import ServerState
from mcp_server.tools.models import ToolFailure
from mcp_server.writes import CONTROLLER_REVISION_HASH, POD_TEMPLATE_HASH, memory_text
from policies import Action

JSON = dict[str, Any]

MAX_CHANGES = 40  # a template diff longer than this is cut (and says so)
MAX_VALUE = 200  # characters of one before/after value
MAX_LINES = 5  # log lines and event lines each
MAX_LINE = 300  # characters of one evidence line
Diff = list[tuple[str, str | None, str | None]]  # (path, before, after)
# Template metadata that changes with every revision and means nothing to a reviewer.
_NOISE = frozenset(
    {
        f"metadata.labels.{POD_TEMPLATE_HASH}",
        f"metadata.labels.{CONTROLLER_REVISION_HASH}",
        "metadata.creationTimestamp",
    }
)
_STALE_HINT = "; plan again"


def compute_preview(state: ServerState, writer: ClusterWriter, plan: Plan, fresh: Fresh) -> JSON:
    """The preview of `plan` on the facts just re-read, as stored in the approval's details.

    Sends exactly one request: the plan's write with `dryRun=All`."""
    try:
        written, answer = writer.send(plan, fresh, dry_run=True)
    except (Conflict, NotFound) as error:
        # The precondition (uid, resourceVersion) no longer holds: the plan is stale.
        raise ToolFailure(
            ErrorCode.PLAN_STALE,
            f"plan {plan.plan_id} is stale: the API server answered {error.reason} to the dry "
            f"run ({error.message}){_STALE_HINT}",
            plan_id=plan.plan_id,
        ) from error
    except GatewayError as error:
        if error.retryable or error.status is None or not 400 <= error.status < 500:
            raise  # a failing server: the caller may ask again
        raise ToolFailure(
            ErrorCode.DRY_RUN_REJECTED,
            f"the API server rejected {plan.action} in a dry run: {error.message}",
            plan_id=plan.plan_id,
            status=error.status,
            reason=error.reason,
            api_message=redact(error.message)[:1000],
        ) from error
    changes, deletes, summary = _change(plan, fresh, written, answer)
    preview = ChangePreview(
        summary=summary,
        dry_run=DryRun(
            ok=True,
            message=f"the API server accepted {plan.action} (dryRun=All); nothing was changed",
        ),
        changes=changes,
        deletes=deletes,
        evidence=evidence_of(state, plan, fresh),
        decision=_decision(plan),
    )
    return preview.model_dump(mode="json")


# ------------------------------------------------------------------------------------ change


def _change(
    plan: Plan, fresh: Fresh, written: JSON, answer: JSON
) -> tuple[list[FieldChange], list[Deletion], str]:
    target = plan.target
    where = f"{target['kind']}/{target['namespace']}/{target['name']}"
    if plan.action in (Action.DELETE_POD.value, Action.DELETE_EVICTED_POD.value):
        return _pod_deletion(plan, fresh, answer, where)
    before = fresh.workload or {}
    if plan.action == Action.SCALE_DOWN_DEPLOYMENT.value:
        return _scale_change(before, written, answer, where)
    old_template = (before.get("spec") or {}).get("template") or {}
    new_template = (answer.get("spec") or {}).get("template") or {}
    diffs = template_diff(old_template, new_template)
    changes = _template_changes(diffs, where)
    resized = _resize_changes(written)
    count = len(diffs)
    summary = _template_summary(plan, written, where)
    summary += f" ({count} pod template field{' changes' if count == 1 else 's change'})"
    if resized:
        pods = {c.object for c in resized}
        in_place = {c.object for c in resized if (c.after or "").endswith("(in place)")}
        summary += f"; first {len(in_place)} of {len(pods)} running pods resized in place"
    forced = [
        Deletion(
            object=f"Pod/{entry.get('namespace')}/{entry.get('pod')}",
            replaced_by=f"{where} (not Running and Ready: it would block the rolling update)",
        )
        for entry in written.get("forced") or []
        if isinstance(entry, Mapping)
    ]
    if forced:
        summary += f"; then delete {len(forced)} stuck pod(s) so the rolling update proceeds"
    return [*resized, *changes], forced, summary


def _pod_deletion(
    plan: Plan, fresh: Fresh, answer: JSON, where: str
) -> tuple[list[FieldChange], list[Deletion], str]:
    name = plan.target["name"]
    pod = answer if (answer.get("kind") == "Pod" or answer.get("metadata")) else fresh.pod
    deletion = Deletion(object=where, replaced_by=replaced_by(pod, plan))
    if deletion.replaced_by:
        summary = f"restart pod {name}: delete it, its controller recreates it"
    else:
        summary = f"delete pod {name}: nothing recreates it"
    return [], [deletion], summary


def _scale_change(
    before: JSON, written: JSON, answer: JSON, where: str
) -> tuple[list[FieldChange], list[Deletion], str]:
    old = (before.get("spec") or {}).get("replicas")
    new = (answer.get("spec") or {}).get("replicas", written.get("replicas"))
    change = FieldChange(
        object=where,
        path="spec.replicas",
        before=None if old is None else str(old),
        after=None if new is None else str(new),
    )
    return [change], [], f"scale {where}: {change.before} -> {change.after} replicas"


def _template_changes(diffs: Diff, where: str) -> list[FieldChange]:
    """The first MAX_CHANGES pod template fields changed, and how many more there are."""
    changes = [
        FieldChange(object=where, path=f"spec.template.{path}", before=old, after=new)
        for path, old, new in diffs[:MAX_CHANGES]
    ]
    if len(diffs) > MAX_CHANGES:
        changes.append(
            FieldChange(
                object=where,
                path="spec.template",
                before=None,
                after=f"... and {len(diffs) - MAX_CHANGES} more changed fields",
            )
        )
    return changes


def _template_summary(plan: Plan, written: JSON, where: str) -> str:
    if plan.action == Action.ROLLBACK_DEPLOYMENT.value:
        return (
            f"roll back {where} from revision {written.get('from_revision') or '?'} to "
            f"revision {written.get('to_revision') or '?'}"
        )
    if plan.action == Action.INCREASE_MEMORY_LIMIT.value:
        return (
            f"raise the memory limit of container {written.get('container')} in {where} "
            f"to {written.get('memory_limit')}"
        )
    return f"{plan.action} on {where}"


def _resize_changes(written: JSON) -> list[FieldChange]:
    """A memory raise's in-place resizes (Kubernetes 1.33+), one line per pod and field, as
    the API server's dry run of each answered: `Pod/default/web-abc resources.limits.memory:
    128Mi -> 228Mi (in place)`, or why that pod is left to the template rollout."""
    entries = written.get("resize")
    if not isinstance(entries, list):
        return []
    changes: list[FieldChange] = []
    for entry in entries[:MAX_CHANGES]:
        if not isinstance(entry, Mapping):
            continue
        where = f"Pod/{entry.get('namespace')}/{entry.get('pod')}"
        result = entry.get("result")
        if result == "accepted":
            tail = "(in place)"
        elif result == "unchanged":
            tail = "(in place: already set)"
        else:
            why = _bounded(redact(str(entry.get("message") or result)), MAX_VALUE)
            tail = f"(not in place: {why}; the template rollout replaces this pod)"
        for field in ("memory_limit", "memory_request"):
            values = entry.get(field)
            if not isinstance(values, Mapping):
                if field == "memory_limit":
                    changes.append(
                        FieldChange(object=where, path="resources", before=None, after=tail)
                    )
                continue
            path = (
                "resources.limits.memory"
                if field == "memory_limit"
                else ("resources.requests.memory")
            )
            before = values.get("before")
            changes.append(
                FieldChange(
                    object=where,
                    path=path,
                    before=None if before is None else readable_quantity(str(before)),
                    after=f"{readable_quantity(str(values.get('after')))} {tail}",
                )
            )
    return changes


def replaced_by(pod: JSON, plan: Plan) -> str | None:
    """What recreates a deleted pod: its controller, and the controller's own owner."""
    meta = pod.get("metadata") or {}
    namespace = str(meta.get("namespace") or plan.pod.get("namespace") or "")
    owners = [o for o in meta.get("ownerReferences") or [] if isinstance(o, Mapping)]
    owner = next((o for o in owners if o.get("controller")), owners[0] if owners else None)
    if owner is None:
        return None
    text = f"{owner.get('kind')}/{namespace}/{owner.get('name')}"
    workload = str(plan.workload or "")
    kind, _, name = workload.partition("/")
    if kind and name and (kind, name) != (owner.get("kind"), owner.get("name")):
        text += f" of {kind}/{namespace}/{name}"
    return text


def template_diff(before: Any, after: Any, path: str = "") -> Diff:
    """(path, before, after) for every leaf that differs; None where a field is absent."""
    out: Diff = []
    _diff(before, after, path, out)
    return [d for d in out if d[0] not in _NOISE]


def _diff(before: Any, after: Any, path: str, out: Diff) -> None:
    if before == after:
        return
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        for key in [*before, *(k for k in after if k not in before)]:
            _diff(before.get(key), after.get(key), _join(path, str(key)), out)
        return
    if isinstance(before, list) and isinstance(after, list):
        keyed_before, keyed_after = _keyed(before), _keyed(after)
        if keyed_before is not None and keyed_after is not None:
            for key in [*keyed_before, *(k for k in keyed_after if k not in keyed_before)]:
                _diff(keyed_before.get(key), keyed_after.get(key), f"{path}[{key}]", out)
            return
        if len(before) == len(after) and all(
            isinstance(item, Mapping) for item in [*before, *after]
        ):
            for index, (old, new) in enumerate(zip(before, after, strict=True)):
                _diff(old, new, f"{path}[{index}]", out)
            return
    if before is None and isinstance(after, Mapping):
        # A whole new object: its leaves, each added (a new container's image, limits, ...).
        for key, value in after.items():
            _diff(None, value, _join(path, str(key)), out)
        return
    if after is None and isinstance(before, Mapping):
        for key, value in before.items():
            _diff(value, None, _join(path, str(key)), out)
        return
    out.append((path, _value(path, before), _value(path, after)))


def _join(path: str, key: str) -> str:
    if not path:
        return key
    # Keys that are not plain words (labels, annotations) are quoted, as kubectl's jsonpath does.
    if all(ch.isalnum() or ch in "_-" for ch in key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key)}]"


def _keyed(items: list[Any]) -> dict[str, Any] | None:
    """A list of named objects as name -> object (containers, env, ports, volumes)."""
    keyed: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            return None
        if item["name"] in keyed:
            return None
        keyed[item["name"]] = item
    return keyed


def _value(path: str, value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    if path.endswith(".memory") or path.endswith(".ephemeral-storage"):
        text = readable_quantity(text)
    return _bounded(_redact_value(path, text), MAX_VALUE)


def readable_quantity(value: str) -> str:
    """A byte count as the quantity a human would write (134217728 -> 128Mi)."""
    if not value.isascii() or not value.isdigit():
        return value  # already written with a unit (128Mi, 100M, 1G)
    count = memory_bytes(value)
    if count is None:
        return value
    text = memory_text(count)
    if text != str(count):
        return text
    return f"{count} bytes (~{count / 2**20:.1f}Mi)"


def _redact_value(path: str, text: str) -> str:
    """Redact a value, knowing its name: `env[DB_PASSWORD].value` is a secret whatever it
    looks like; so is any value the redactor recognises on its own."""
    name = path.rsplit("[", 1)[-1].split("]", 1)[0] if "[" in path else ""
    leaf = path.rsplit(".", 1)[-1]
    for key in (name, leaf):
        if key and redact(f"{key}={text}") != f"{key}={text}":
            return REDACTED
    return redact(text)


def _bounded(text: str, limit: int) -> str:
    text = " ".join(text.split()) if "\n" in text else text
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------------------------- evidence


def evidence_of(state: ServerState, plan: Plan, fresh: Fresh) -> Evidence:
    """What the plan was decided on: the issue, the restarts and the last termination of the
    pod, and a few log and event lines of its diagnosis (redacted, bounded)."""
    namespace = str(plan.pod.get("namespace") or "")
    name = str(plan.pod.get("name") or "")
    inputs = state.memo.of_pod(namespace, name, plan.facts.pod_uid)
    pod = inputs.pod if inputs is not None else fresh.pod
    restarts, termination = _restarts(pod, plan.parameters.get("container"))
    log_lines: list[str] = []
    event_lines: list[str] = []
    if inputs is not None:
        diagnosis = diagnose_inputs(inputs, state.policy)
        for entry in diagnosis.logs.get("errors") or []:
            if isinstance(entry, Mapping) and entry.get("message"):
                where = entry.get("container") or ""
                source = entry.get("source") or ""
                label = f"[{where} {source}] " if where else ""
                log_lines.append(_line(f"{label}{entry['message']}"))
            if len(log_lines) >= MAX_LINES:
                break
        for event in _telling(diagnosis.events):
            count = int(event.get("count") or 1)
            times = f" (x{count})" if count > 1 else ""
            event_lines.append(
                _line(
                    f"{event.get('type') or 'Normal'} {event.get('reason') or ''}: "
                    f"{event.get('message') or ''}{times}"
                )
            )
    return Evidence(
        issue=str(plan.issue_type or ""),
        restarts=restarts,
        last_termination=termination,
        log_lines=log_lines,
        event_lines=event_lines,
    )


def _telling(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The most recent events, warnings first (a `Pulled` says less than a `BackOff`), in
    the order they happened."""
    ranked = sorted(
        range(len(events)),
        key=lambda i: (events[i].get("type") == "Warning", i),
        reverse=True,
    )[:MAX_LINES]
    return [events[i] for i in sorted(ranked)]


def _line(text: str) -> str:
    return _bounded(redact(" ".join(text.split())), MAX_LINE)


def _restarts(pod: JSON, container: Any) -> tuple[int | None, str | None]:
    statuses = [
        s
        for s in (pod.get("status") or {}).get("containerStatuses") or []
        if isinstance(s, Mapping)
    ]
    if container is not None:
        statuses = [s for s in statuses if s.get("name") == container] or statuses
    if not statuses:
        return None, None
    restarts = sum(int(s.get("restartCount") or 0) for s in statuses)
    termination: str | None = None
    for status in sorted(statuses, key=lambda s: -int(s.get("restartCount") or 0)):
        terminated = (status.get("state") or {}).get("terminated") or (
            status.get("lastState") or {}
        ).get("terminated")
        if isinstance(terminated, Mapping):
            reason = terminated.get("reason") or "Terminated"
            code = terminated.get("exitCode")
            at = terminated.get("finishedAt")
            termination = f"{reason}, exit code {code}" if code is not None else str(reason)
            if len(statuses) > 1:
                termination = f"{status.get('name')}: {termination}"
            if at:
                termination += f", at {at}"
            termination = _line(termination)
            break
    return restarts, termination


def _decision(plan: Plan) -> RuleDecision:
    checks = plan.decision.get("checks") or []
    failed = [
        _line(f"{c.get('name')}: {c.get('detail')}")
        for c in checks
        # The approval check fails until a human grants this very approval: not news here.
        if isinstance(c, Mapping) and not c.get("passed") and c.get("name") != "approval"
    ]
    return RuleDecision(
        action=plan.action,
        reason=_bounded(redact(plan.reason), 1000),
        risk=plan.risk,
        requires_approval=plan.requires_approval,
        failed_checks=failed,
    )
