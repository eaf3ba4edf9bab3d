"""The bodies of the executor's writes, built from objects already read: no I/O here.

Every patch carries a precondition on the resourceVersion it was built from: the API server
compares a resourceVersion found in the patched object with the stored one and answers
409 Conflict when they differ, so a write computed from a stale read is refused instead of
overwriting what someone else changed meanwhile (a JSON-patch `test` op would fail with a
generic 422 instead, and only for the path it tests).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from kubemedic_quantity import format_memory, memory_bytes

JSON = dict[str, Any]

REVISION = "deployment.kubernetes.io/revision"
POD_TEMPLATE_HASH = "pod-template-hash"
CONTROLLER_REVISION_HASH = "controller-revision-hash"
JOB_CONTROLLER_UID = "batch.kubernetes.io/controller-uid"
EVENT_MESSAGE_LIMIT = 1000  # characters; the API's own limit is 1024 bytes
_EVENT_MESSAGE_BYTES = 1024
_EVENT_FIELD_LIMIT = 128  # reason, action, reportingInstance

# Annotations a rollback keeps from the Deployment rather than taking from the ReplicaSet
# (kubectl's annotationsToSkip).
ROLLBACK_SKIP_ANNOTATIONS = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        "deployment.kubernetes.io/revision",
        "deployment.kubernetes.io/revision-history",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)

_API_VERSIONS = {
    "Pod": "v1",
    "Node": "v1",
    "PersistentVolumeClaim": "v1",
    "Deployment": "apps/v1",
    "ReplicaSet": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "Job": "batch/v1",
    "CronJob": "batch/v1",
}
# The owners that recreate a deleted pod, and the label a replacement shares with the old pod.
_REPLACING_OWNERS = {
    "ReplicaSet": POD_TEMPLATE_HASH,
    "StatefulSet": CONTROLLER_REVISION_HASH,
    "DaemonSet": CONTROLLER_REVISION_HASH,
    "Job": JOB_CONTROLLER_UID,
}

_QNAME = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_NAME_RE = re.compile(f"^{_QNAME}$")
_VALUE_RE = re.compile(f"^({_QNAME})?$")
_PREFIX_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class WriteRefused(Exception):
    """A write that must not be sent. `code` is the error code a tool reports for it:
    `invalid_input`, `not_found`, `safety_check_failed`, `unsupported` or `vetoed`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# ------------------------------------------------------------------------------ small readers


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def controller_ref(obj: Mapping[str, Any], kind: str | None = None) -> JSON | None:
    """The object's controller reference. With `kind`: the controller reference of that kind,
    failing that the first owner reference of that kind (owners that forgot `controller`)."""
    refs = [r for r in _meta(obj).get("ownerReferences") or [] if isinstance(r, Mapping)]
    if kind is not None:
        refs = [r for r in refs if r.get("kind") == kind]
    for ref in refs:
        if ref.get("controller") is True:
            return dict(ref)
    return dict(refs[0]) if refs and kind is not None else None


def owner_uid(obj: Mapping[str, Any], kind: str | None = None) -> str | None:
    ref = controller_ref(obj, kind)
    uid = ref.get("uid") if ref else None
    return str(uid) if uid else None


def revision_of(obj: Mapping[str, Any]) -> int | None:
    """The `deployment.kubernetes.io/revision` annotation, if it is a number."""
    value = (_meta(obj).get("annotations") or {}).get(REVISION)
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def memory_text(value: int) -> str:
    """Bytes as the quantity a human would write: the largest binary unit that divides it."""
    return format_memory(value)


# ---------------------------------------------------------------------------- label selectors


def _key_ok(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if "/" in prefix or (key.count("/") == 1 and not prefix):
        return False
    if prefix and (len(prefix) > 253 or not _PREFIX_RE.match(prefix)):
        return False
    return 0 < len(name) <= 63 and bool(_NAME_RE.match(name))


def _value_ok(value: str) -> bool:
    return len(value) <= 63 and bool(_VALUE_RE.match(value))


def _checked_key(key: object) -> str:
    if not isinstance(key, str) or not _key_ok(key):
        raise WriteRefused("invalid_input", f"invalid label key in selector: {key!r}")
    return key


def _checked_value(key: str, value: object) -> str:
    if not isinstance(value, str) or not _value_ok(value):
        raise WriteRefused("invalid_input", f"invalid label value for {key} in selector: {value!r}")
    return value


def label_selector(selector: Mapping[str, Any]) -> str:
    """A LabelSelector (`matchLabels` and `matchExpressions`) as the `labelSelector` query text
    the API server parses, e.g. `app=web,tier in (a,b),!legacy`: requirements sorted by key,
    set values sorted, as metav1.LabelSelectorAsSelector renders them.

    An empty selector gives "" which, as in the API, selects everything. Raises WriteRefused
    (`unsupported`) on an unknown operator and (`invalid_input`) on malformed keys or values.
    """
    requirements: list[tuple[str, str]] = []
    match_labels = selector.get("matchLabels") or {}
    if not isinstance(match_labels, Mapping):
        raise WriteRefused("invalid_input", "matchLabels is not a map")
    for key, value in match_labels.items():
        key = _checked_key(key)
        requirements.append((key, f"{key}={_checked_value(key, value)}"))
    expressions = selector.get("matchExpressions") or []
    if not isinstance(expressions, list):
        raise WriteRefused("invalid_input", "matchExpressions is not a list")
    for expression in expressions:
        if not isinstance(expression, Mapping):
            raise WriteRefused("invalid_input", f"invalid selector expression: {expression!r}")
        key = _checked_key(expression.get("key"))
        operator = expression.get("operator")
        if operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise WriteRefused(
                "unsupported", f"{operator!r} is not a valid label selector operator (key {key})"
            )
        raw = expression.get("values") or []
        if not isinstance(raw, list):
            raise WriteRefused("invalid_input", f"values of {key} are not a list")
        values = sorted({_checked_value(key, v) for v in raw})
        if operator in ("In", "NotIn"):
            if not values:
                raise WriteRefused(
                    "invalid_input",
                    f"{key} {operator}: for 'in', 'notin' operators, values set can't be empty",
                )
            word = "in" if operator == "In" else "notin"
            requirements.append((key, f"{key} {word} ({','.join(values)})"))
        else:
            if values:
                raise WriteRefused(
                    "invalid_input",
                    f"{key} {operator}: values set must be empty for exists and does not exist",
                )
            requirements.append((key, key if operator == "Exists" else f"!{key}"))
    requirements.sort(key=lambda pair: pair[0])  # stable: a key's terms keep their order
    return ",".join(text for _, text in requirements)


# ---------------------------------------------------------------------------------- patches


def _precondition(obj: Mapping[str, Any]) -> JSON:
    version = _meta(obj).get("resourceVersion")
    if not isinstance(version, str) or not version:
        raise WriteRefused(
            "invalid_input", "the object has no resourceVersion: the write cannot be conditional"
        )
    # The server compares the patched object's resourceVersion with the stored one: 409 if
    # they differ.
    return {"op": "replace", "path": "/metadata/resourceVersion", "value": version}


def _name_of(obj: Mapping[str, Any]) -> str:
    return str(_meta(obj).get("name") or "")


def rollback_refusal(deployment: Mapping[str, Any]) -> str | None:
    """Why a rollback of this workload (a Deployment, StatefulSet or DaemonSet) must not be
    attempted, or None."""
    name = _name_of(deployment)
    namespace = str(_meta(deployment).get("namespace") or "")
    word = str(deployment.get("kind") or "Deployment").lower()
    if _meta(deployment).get("deletionTimestamp"):
        return f"{word} {name} is being deleted"
    if (deployment.get("spec") or {}).get("paused") is True:
        where = f" -n {namespace}" if namespace else ""
        return (
            "you cannot rollback a paused deployment; resume it first with "
            f"'kubectl rollout resume deployment/{name}{where}' and try again"
        )
    return None


class MemoryPatch(NamedTuple):
    ops: list[JSON]
    container: str  # the container whose limit is set
    value: str  # the limit as written, e.g. "512Mi"


def memory_patch(
    deployment: Mapping[str, Any],
    container: str | None,
    limit_bytes: int,
    *,
    request_bytes: int | None = None,
) -> MemoryPatch:
    """A JSON patch setting one container's memory limit (and, with `request_bytes`, its
    memory request) in the Deployment's pod template.

    `container` None means the template's only container. The patch fails whole with 409 if
    the Deployment changed since it was read (resourceVersion), and with 422 if the container
    is no longer at the index it was found at (`test` on its name).
    """
    _check_memory_values(limit_bytes, request_bytes)
    spec = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = [c for c in spec.get("containers") or [] if isinstance(c, Mapping)]
    if container is None and len(containers) > 1:
        names = ", ".join(str(c.get("name")) for c in containers)
        raise WriteRefused(
            "invalid_input", f"the pod template has several containers ({names}): name one"
        )
    for index, found in enumerate(containers):
        if container is not None and found.get("name") != container:
            continue
        name = str(found.get("name"))
        value = memory_text(limit_bytes)
        resources = found.get("resources")
        resources = resources if isinstance(resources, Mapping) else None
        requested = memory_bytes(((resources or {}).get("requests") or {}).get("memory"))
        if request_bytes is not None:
            requested = request_bytes
        if requested is not None and requested > limit_bytes:
            # The API server rejects a limit below the request (422); say why before sending.
            raise WriteRefused(
                "safety_check_failed",
                f"container {name} requests {requested} bytes of memory, more than the new "
                f"limit {value}",
            )
        base = f"/spec/template/spec/containers/{index}"
        ops: list[JSON] = [
            _precondition(deployment),
            {"op": "test", "path": f"{base}/name", "value": name},
            *_memory_ops(base, resources, value, request_bytes),
        ]
        return MemoryPatch(ops, name, value)
    if not containers:
        raise WriteRefused("not_found", "the deployment's pod template has no containers")
    raise WriteRefused("not_found", f"container {container} is not in the deployment's template")


def _check_memory_values(limit_bytes: int, request_bytes: int | None) -> None:
    if isinstance(limit_bytes, bool) or not isinstance(limit_bytes, int) or limit_bytes <= 0:
        raise WriteRefused("safety_check_failed", "the rules computed no memory limit")
    if request_bytes is not None and not 0 < request_bytes <= limit_bytes:
        raise WriteRefused(
            "safety_check_failed", "the planned memory request is not within the new limit"
        )


def _memory_ops(
    base: str, resources: Mapping[str, Any] | None, limit: str, request_bytes: int | None
) -> list[JSON]:
    """The ops setting the container at `base`'s memory limit (and request), creating the
    `resources`, `limits` and `requests` objects it lacks."""
    ops: list[JSON] = []
    if resources is None:
        ops.append({"op": "add", "path": f"{base}/resources", "value": {}})
    if not isinstance((resources or {}).get("limits"), Mapping):
        ops.append({"op": "add", "path": f"{base}/resources/limits", "value": {}})
    # `add` replaces an existing member and creates a missing one.
    ops.append({"op": "add", "path": f"{base}/resources/limits/memory", "value": limit})
    if request_bytes is not None:
        if not isinstance((resources or {}).get("requests"), Mapping):
            ops.append({"op": "add", "path": f"{base}/resources/requests", "value": {}})
        ops.append(
            {
                "op": "add",
                "path": f"{base}/resources/requests/memory",
                "value": memory_text(request_bytes),
            }
        )
    return ops


class RollbackPatch(NamedTuple):
    ops: list[JSON]
    revision: int  # the revision rolled back to


def _without_hash(template: Mapping[str, Any]) -> JSON:
    copied = copy.deepcopy(dict(template))
    labels = (copied.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(POD_TEMPLATE_HASH, None)
    return copied


def rollback_patch(
    deployment: Mapping[str, Any],
    replicasets: Collection[Mapping[str, Any]],
    revision: int | None = None,
) -> RollbackPatch:
    """`kubectl rollout undo` for apps/v1, conditional on the Deployment's resourceVersion:
    the chosen ReplicaSet's template (its pod-template-hash label removed) and annotations.

    `revision` None or 0 means the newest revision before the current one. Refuses (WriteRefused)
    a paused or deleting Deployment (`vetoed`), an unknown revision (`not_found`), the current
    revision or a template equal to the current one (`vetoed`).
    """
    refusal = rollback_refusal(deployment)
    if refusal is not None:
        raise WriteRefused("vetoed", refusal)
    if revision is not None and (
        isinstance(revision, bool) or not isinstance(revision, int) or revision < 0
    ):
        raise WriteRefused("invalid_input", f"invalid revision {revision!r}")
    candidates = _owned_replicasets(deployment, replicasets)
    current = revision_of(deployment)
    if current is None and candidates:
        current = max(candidates)  # the newest ReplicaSet is the current template
    chosen = _chosen_revision(deployment, candidates, current, revision)
    target = candidates[chosen]
    template = _without_hash((target.get("spec") or {}).get("template") or {})
    current_template = _without_hash((deployment.get("spec") or {}).get("template") or {})
    if template == current_template:
        raise WriteRefused(
            "vetoed", f"the current template already matches revision {chosen}: nothing to undo"
        )
    ops: list[JSON] = [
        _precondition(deployment),
        {"op": "replace", "path": "/spec/template", "value": template},
        # `add` replaces an existing member and creates a missing one.
        {
            "op": "add",
            "path": "/metadata/annotations",
            "value": _rollback_annotations(deployment, target),
        },
    ]
    return RollbackPatch(ops, chosen)


def _owned_replicasets(
    deployment: Mapping[str, Any], replicasets: Collection[Mapping[str, Any]]
) -> dict[int, Mapping[str, Any]]:
    """The Deployment's own ReplicaSets by revision number."""
    uid = _meta(deployment).get("uid")
    candidates: dict[int, Mapping[str, Any]] = {}
    for rs in replicasets:
        number = revision_of(rs)
        if uid and number is not None and owner_uid(rs, "Deployment") == uid:
            candidates[number] = rs
    return candidates


def _chosen_revision(
    deployment: Mapping[str, Any],
    candidates: Mapping[int, Mapping[str, Any]],
    current: int | None,
    revision: int | None,
) -> int:
    """The revision asked for, or the newest before the current one; never the current."""
    if revision:
        chosen = revision
        if chosen not in candidates:
            raise WriteRefused(
                "not_found", f"unable to find specified revision {chosen} in history"
            )
    else:
        older = [r for r in candidates if current is None or r < current]
        if not older:
            raise WriteRefused(
                "not_found", f"no rollout history found for deployment {_name_of(deployment)!r}"
            )
        chosen = max(older)
    if chosen == current:
        raise WriteRefused("vetoed", f"revision {chosen} is already the current one")
    return chosen


def _rollback_annotations(
    deployment: Mapping[str, Any], target: Mapping[str, Any]
) -> dict[str, Any]:
    # As kubectl does: keep the Deployment's own bookkeeping annotations, take the rest
    # (e.g. kubernetes.io/change-cause) from the ReplicaSet rolled back to.
    own = _meta(deployment).get("annotations") or {}
    theirs = _meta(target).get("annotations") or {}
    annotations = {k: v for k, v in own.items() if k in ROLLBACK_SKIP_ANNOTATIONS}
    annotations.update({k: v for k, v in theirs.items() if k not in ROLLBACK_SKIP_ANNOTATIONS})
    return annotations


# -------------------------------------------- StatefulSet / DaemonSet: ControllerRevisions


def _revision_number(revision: Mapping[str, Any]) -> int | None:
    value = revision.get("revision")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def controlled_revisions(
    workload: Mapping[str, Any], revisions: Collection[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """The workload's ControllerRevisions (controlled by its uid), oldest number first."""
    uid = _meta(workload).get("uid")
    kind = str(workload.get("kind") or "") or None
    owned = [
        r
        for r in revisions
        if uid and owner_uid(r, kind) == uid and _revision_number(r) is not None
    ]
    return sorted(owned, key=lambda r: _revision_number(r) or 0)


def current_revision(
    workload: Mapping[str, Any], revisions: Collection[Mapping[str, Any]]
) -> Mapping[str, Any] | None:
    """The revision of the workload's template now: a StatefulSet's `status.updateRevision`,
    else (a DaemonSet) the highest revision number."""
    history = controlled_revisions(workload, revisions)
    if not history:
        return None
    if workload.get("kind") == "StatefulSet":
        name = (workload.get("status") or {}).get("updateRevision")
        found = next((r for r in history if _name_of(r) == name), None)
        if found is not None:
            return found
    return history[-1]


def revision_hash(workload: Mapping[str, Any], revision: Mapping[str, Any]) -> str | None:
    """The `controller-revision-hash` its pods carry: the revision's name for a StatefulSet,
    the revision's own hash label for a DaemonSet."""
    if workload.get("kind") == "DaemonSet":
        value = (_meta(revision).get("labels") or {}).get(CONTROLLER_REVISION_HASH)
        return str(value) if value else None
    return _name_of(revision) or None


def current_revision_hash(
    workload: Mapping[str, Any], revisions: Collection[Mapping[str, Any]]
) -> str | None:
    """The `controller-revision-hash` of the pods of the workload's current template: a
    StatefulSet says it (`status.updateRevision`); a DaemonSet's comes from its revisions."""
    if workload.get("kind") == "StatefulSet":
        name = (workload.get("status") or {}).get("updateRevision")
        if isinstance(name, str) and name:
            return name
    found = current_revision(workload, revisions)
    return None if found is None else revision_hash(workload, found)


def revision_template(revision: Mapping[str, Any]) -> JSON:
    """The pod template a ControllerRevision restores (its `data`, without `$patch`)."""
    template = copy.deepcopy(
        dict((((revision.get("data") or {}).get("spec") or {}).get("template")) or {})
    )
    template.pop("$patch", None)
    return template


def comparable_template(template: Mapping[str, Any]) -> JSON:
    """A pod template as two revisions compare: without the hash labels the controllers add
    and without the empty `creationTimestamp` a revision's data carries."""
    copied = copy.deepcopy(dict(template))
    copied.pop("$patch", None)
    meta = copied.get("metadata")
    if isinstance(meta, dict):
        if meta.get("creationTimestamp") is None:
            meta.pop("creationTimestamp", None)
        labels = meta.get("labels")
        if isinstance(labels, dict):
            labels.pop(POD_TEMPLATE_HASH, None)
            labels.pop(CONTROLLER_REVISION_HASH, None)
        if not meta:
            copied.pop("metadata")
    return copied


class RevisionRollback(NamedTuple):
    body: JSON  # a strategic-merge patch: the revision's data, plus the resourceVersion
    revision: int  # the revision rolled back to
    from_revision: int | None  # the current one
    template: JSON  # the template it restores


def revision_rollback_patch(
    workload: Mapping[str, Any],
    revisions: Collection[Mapping[str, Any]],
    revision: int | None = None,
) -> RevisionRollback:
    """`kubectl rollout undo statefulset/X` (or daemonset/X): the strategic-merge patch that
    is the chosen ControllerRevision's `data` (`spec.template` with `$patch: replace`), made
    conditional on the workload's resourceVersion (409 if it changed since it was read).

    `revision` None or 0 means the newest revision before the current one. Refuses
    (WriteRefused) a workload being deleted (`vetoed`), no earlier revision or an unknown one
    (`not_found`), the current revision or a template equal to the current one (`vetoed`).
    """
    kind = str(workload.get("kind") or "workload")
    name = _name_of(workload)
    if _meta(workload).get("deletionTimestamp"):
        raise WriteRefused("vetoed", f"{kind.lower()} {name} is being deleted")
    if revision is not None and (
        isinstance(revision, bool) or not isinstance(revision, int) or revision < 0
    ):
        raise WriteRefused("invalid_input", f"invalid revision {revision!r}")
    history = controlled_revisions(workload, revisions)
    numbered = {_revision_number(r): r for r in history}
    current = current_revision(workload, revisions)
    current_number = None if current is None else _revision_number(current)
    if revision:
        chosen = revision
        if chosen not in numbered:
            raise WriteRefused(
                "not_found", f"unable to find specified revision {chosen} in history"
            )
    else:
        older = [n for n in numbered if n is not None and (current_number or 0) > n]
        if not older:
            raise WriteRefused("not_found", "no last revision to roll back to")
        chosen = max(older)
    if chosen == current_number:
        raise WriteRefused("vetoed", f"revision {chosen} is already the current one")
    target = numbered[chosen]
    data = target.get("data")
    template = revision_template(target)
    if not isinstance(data, Mapping) or not template:
        raise WriteRefused("not_found", f"revision {chosen} holds no pod template")
    live = (workload.get("spec") or {}).get("template") or {}
    if comparable_template(template) == comparable_template(live):
        raise WriteRefused(
            "vetoed", f"the current template already matches revision {chosen}: nothing to undo"
        )
    body = copy.deepcopy(dict(data))
    version = _precondition(workload)["value"]
    body["metadata"] = {"resourceVersion": version}
    return RevisionRollback(body, chosen, current_number, template)


# ------------------------------------------------------------------------------------ events


def event_reason(action: str) -> str:
    """`delete_pod` -> `KubemedicDeletePod`."""
    reason = "Kubemedic" + "".join(part.title() for part in action.split("_") if part)
    return reason[:_EVENT_FIELD_LIMIT]


def _cut_message(text: str) -> str:
    text = text[:EVENT_MESSAGE_LIMIT]
    while len(text.encode()) > _EVENT_MESSAGE_BYTES:  # many multi-byte characters
        text = text[:-1]
    return text


def event_body(
    target_kind: str,
    namespace: str,
    name: str,
    uid: str | None,
    action: str,
    reason_text: str,
    now_text: str,
    instance: str,
) -> JSON:
    """A core/v1 Event on the object acted on. `kubectl describe` lists an object's events by
    involvedObject name, namespace (kind) and uid, so the uid must be the object's own."""
    involved: JSON = {
        "apiVersion": _API_VERSIONS.get(target_kind, "v1"),
        "kind": target_kind,
        "name": name,
        "namespace": namespace,
    }
    if uid:
        involved["uid"] = uid
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "generateName": f"{name}.kubemedic-",
            # cluster-scoped objects' events live in "default", as the kubelet writes them
            "namespace": namespace or "default",
        },
        "involvedObject": involved,
        "reason": event_reason(action),
        "message": _cut_message(f"kubemedic {action}: {reason_text}"),
        "type": "Normal",
        "source": {"component": "kubemedic"},
        "reportingComponent": "kubemedic",
        "reportingInstance": instance[:_EVENT_FIELD_LIMIT],
        "action": action[:_EVENT_FIELD_LIMIT],
        "firstTimestamp": now_text,
        "lastTimestamp": now_text,
        "count": 1,
    }


# ------------------------------------------------------------------------ replacement pods


@dataclass(frozen=True)
class ReplacementQuery:
    """How to find the pod that replaces a deleted one: list pods with `selector` (""
    = every pod of the namespace) and keep those `is_replacement` accepts."""

    selector: str
    owner_kind: str | None
    owner_uid: str | None
    same_name: bool  # a StatefulSet's replacement keeps the name, with a new uid


def replacement_selector(pod: Mapping[str, Any]) -> ReplacementQuery:
    """The query for a deleted pod's replacement, from its controller and the one label the
    controller gives every pod of that template (never the pod's other labels, which anyone
    may have changed). A pod without a controller is not replaced: owner_uid None."""
    ref = controller_ref(pod)
    if ref is None or ref.get("kind") not in _REPLACING_OWNERS:
        # no controller reference: the first owner of a kind that recreates pods
        ref = next(filter(None, (controller_ref(pod, kind) for kind in _REPLACING_OWNERS)), None)
    if ref is None or not ref.get("uid"):
        return ReplacementQuery("", None, None, False)
    kind = str(ref["kind"])
    uid = str(ref["uid"])
    key = _REPLACING_OWNERS[kind]
    labels = _meta(pod).get("labels") or {}
    value = labels.get(key) if isinstance(labels, Mapping) else None
    # Without that label (or with a malformed one): every pod, filtered by owner.
    selector = f"{key}={value}" if isinstance(value, str) and value and _value_ok(value) else ""
    return ReplacementQuery(selector, kind, uid, kind == "StatefulSet")


def is_replacement(
    candidate: Mapping[str, Any],
    old_pod: Mapping[str, Any],
    query: ReplacementQuery,
    *,
    known_uids: Collection[str] = (),
) -> bool:
    """Whether `candidate` replaces `old_pod`: the same controller (by uid), another uid (and
    none of `known_uids`, the pods that existed before the delete), not being deleted, and for
    a StatefulSet the same name."""
    if query.owner_uid is None:
        return False
    meta = _meta(candidate)
    old = _meta(old_pod)
    if owner_uid(candidate, query.owner_kind) != query.owner_uid:
        return False
    uid = meta.get("uid")
    if not uid or uid == old.get("uid") or uid in known_uids:
        return False
    if meta.get("deletionTimestamp"):
        return False
    if old.get("namespace") and meta.get("namespace") not in (None, old.get("namespace")):
        return False
    return not query.same_name or meta.get("name") == old.get("name")


# ---------------------------------------------------------------------- in-place resize (1.33+)


def current_replicaset(
    deployment: Mapping[str, Any], replicasets: Collection[Mapping[str, Any]]
) -> Mapping[str, Any] | None:
    """The Deployment's ReplicaSet of its current template: controlled by the Deployment (uid)
    and at its revision; failing that, the one whose template equals the Deployment's (the
    hash label aside), as the deployment controller finds it."""
    uid = _meta(deployment).get("uid")
    owned = [rs for rs in replicasets if uid and owner_uid(rs, "Deployment") == uid]
    revision = revision_of(deployment)
    if revision is not None:
        for rs in owned:
            if revision_of(rs) == revision:
                return rs
    template = _without_hash((deployment.get("spec") or {}).get("template") or {})
    for rs in owned:
        if _without_hash((rs.get("spec") or {}).get("template") or {}) == template:
            return rs
    return None


def current_template_pods(
    deployment: Mapping[str, Any],
    replicasets: Collection[Mapping[str, Any]],
    pods: Collection[Mapping[str, Any]],
) -> list[Mapping[str, Any]]:
    """The running pods of the workload's current template, not being deleted. A Deployment's:
    controlled by its current ReplicaSet (uid; `replicasets` are its ReplicaSets) and carrying
    that ReplicaSet's `pod-template-hash`. A StatefulSet's or DaemonSet's (`replicasets` are
    then its ControllerRevisions): controlled by the workload (uid) and carrying the current
    revision's `controller-revision-hash`. Pods of older templates are left to the rollout."""
    if deployment.get("kind") in ("StatefulSet", "DaemonSet"):
        return _current_revision_pods(deployment, replicasets, pods)
    rs = current_replicaset(deployment, replicasets)
    if rs is None:
        return []
    rs_uid = _meta(rs).get("uid")
    template_hash = (_meta(rs).get("labels") or {}).get(POD_TEMPLATE_HASH)
    found = []
    for pod in pods:
        meta = _meta(pod)
        if owner_uid(pod, "ReplicaSet") != rs_uid or meta.get("deletionTimestamp"):
            continue
        if template_hash and (meta.get("labels") or {}).get(POD_TEMPLATE_HASH) != template_hash:
            continue
        if (pod.get("status") or {}).get("phase") != "Running":
            continue
        found.append(pod)
    return sorted(found, key=_name_of)


def _current_revision_pods(
    workload: Mapping[str, Any],
    revisions: Collection[Mapping[str, Any]],
    pods: Collection[Mapping[str, Any]],
) -> list[Mapping[str, Any]]:
    uid = _meta(workload).get("uid")
    kind = str(workload.get("kind"))
    wanted = current_revision_hash(workload, revisions)
    if not uid or not wanted:
        return []
    found = []
    for pod in pods:
        meta = _meta(pod)
        if owner_uid(pod, kind) != uid or meta.get("deletionTimestamp"):
            continue
        if (meta.get("labels") or {}).get(CONTROLLER_REVISION_HASH) != wanted:
            continue
        if (pod.get("status") or {}).get("phase") != "Running":
            continue
        found.append(pod)
    return sorted(found, key=_name_of)


class ResizePatch(NamedTuple):
    body: JSON  # a strategic-merge patch for the pod's `resize` subresource
    container: str
    limit_before: str | None  # the pod's memory limit now
    limit: str  # the limit as written
    request_before: str | None
    request: str | None  # None: the request is left as it is


def resize_patch(
    pod: Mapping[str, Any],
    container: str,
    limit_bytes: int,
    *,
    template_container: Mapping[str, Any] | None = None,
    request_bytes: int | None = None,
) -> ResizePatch:
    """The body of `kubectl patch pod X --subresource resize` that gives one container of a
    running pod the memory limit the template patch gives new pods, conditional on the pod's
    resourceVersion (409 if it changed since it was read).

    The request becomes what a new pod of the patched template gets: `request_bytes` when the
    plan sets one; unchanged when the template names a memory request; the new limit when the
    pod's request equals its limit and the template names none (the API server defaulted the
    request from the limit, and does so again for new pods). Raises WriteRefused when the pod
    has no such container (`not_found`) or no resourceVersion (`invalid_input`).
    """
    spec = pod.get("spec") or {}
    found = next(
        (
            c
            for c in spec.get("containers") or []
            if isinstance(c, Mapping) and c.get("name") == container
        ),
        None,
    )
    if found is None:
        raise WriteRefused("not_found", f"container {container} is not in pod {_name_of(pod)}")
    resources = found.get("resources") if isinstance(found.get("resources"), Mapping) else {}
    limit_before = ((resources or {}).get("limits") or {}).get("memory")
    request_before = ((resources or {}).get("requests") or {}).get("memory")
    value = memory_text(limit_bytes)
    template_resources = (template_container or {}).get("resources") or {}
    template_request = (template_resources.get("requests") or {}).get("memory")
    request: str | None = None
    if request_bytes is not None:
        request = memory_text(request_bytes)
    elif (
        template_request is None
        and request_before is not None
        and memory_bytes(request_before) == memory_bytes(limit_before)
    ):
        request = value
    wanted: JSON = {"limits": {"memory": value}}
    if request is not None:
        wanted["requests"] = {"memory": request}
    version = _precondition(pod)["value"]
    body: JSON = {
        "metadata": {"resourceVersion": version},
        "spec": {"containers": [{"name": container, "resources": wanted}]},
    }
    return ResizePatch(
        body,
        container,
        None if limit_before is None else str(limit_before),
        value,
        None if request_before is None else str(request_before),
        request,
    )
