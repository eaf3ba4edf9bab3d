"""StatefulSets, DaemonSets and ControllerRevisions as the 1.28 API server stores them.

Defaulting (`SetDefaults_StatefulSet` / `SetDefaults_DaemonSet`, the embedded claim templates),
the status a new object starts with, and the registry strategies' update rules: a DaemonSet's
`deprecated.daemonset.template.generation` annotation counts template changes (the client's
value is ignored), a StatefulSet's spec may change only in `replicas`, `ordinals`, `template`,
`updateStrategy`, `persistentVolumeClaimRetentionPolicy` and `minReadySeconds`, and a
ControllerRevision's `data` is immutable.
"""

from __future__ import annotations

import copy
from typing import Any

from kubesim.api.errors import invalid

Obj = dict[str, Any]

DEFAULTED_KINDS = frozenset({"StatefulSet", "DaemonSet"})
STATUS_KINDS = frozenset({"StatefulSet", "DaemonSet"})
TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"
_STS_MUTABLE = (
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
)
_STS_FORBIDDEN = (
    "Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', "
    "'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and "
    "'minReadySeconds' are forbidden"
)


def _claim_template(claim: Obj) -> None:
    claim.setdefault("kind", "PersistentVolumeClaim")
    claim.setdefault("apiVersion", "v1")
    claim.setdefault("metadata", {}).setdefault("creationTimestamp", None)
    claim.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
    status = claim.get("status")
    if not isinstance(status, dict):
        status = {}
    status.setdefault("phase", "Pending")
    claim["status"] = status


def apply_defaults(kind: str, obj: Obj) -> None:
    """Everything but the pod template (the caller defaults that as for Deployments)."""
    spec = obj.setdefault("spec", {})
    if kind == "StatefulSet":
        spec.setdefault("replicas", 1)
        for claim in spec.get("volumeClaimTemplates") or []:
            if isinstance(claim, dict):
                _claim_template(claim)
        spec.setdefault("podManagementPolicy", "OrderedReady")
        strategy = spec.setdefault("updateStrategy", {})
        if not strategy.get("type"):
            strategy["type"] = "RollingUpdate"
            strategy.setdefault("rollingUpdate", {})
        rolling = strategy.get("rollingUpdate")
        if strategy["type"] == "RollingUpdate" and isinstance(rolling, dict):
            rolling.setdefault("partition", 0)
        spec.setdefault("revisionHistoryLimit", 10)
        policy = spec.setdefault("persistentVolumeClaimRetentionPolicy", {})
        policy.setdefault("whenDeleted", "Retain")
        policy.setdefault("whenScaled", "Retain")
    elif kind == "DaemonSet":
        annotations = obj.setdefault("metadata", {}).setdefault("annotations", {})
        annotations.setdefault(TEMPLATE_GENERATION, "1")
        strategy = spec.setdefault("updateStrategy", {})
        if not strategy.get("type"):
            strategy["type"] = "RollingUpdate"
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            rolling.setdefault("maxUnavailable", 1)
            rolling.setdefault("maxSurge", 0)
        spec.setdefault("revisionHistoryLimit", 10)


def initial_status(kind: str) -> Obj:
    """The zero status the server writes at create (its non-omitempty fields)."""
    if kind == "StatefulSet":
        return {"replicas": 0, "availableReplicas": 0}
    return {
        "currentNumberScheduled": 0,
        "numberMisscheduled": 0,
        "desiredNumberScheduled": 0,
        "numberReady": 0,
    }


def template_generation(obj: Obj) -> int:
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(TEMPLATE_GENERATION)
    try:
        return int(value) if value is not None else 0
    except ValueError:
        return 0


def prepare_update(kind: str, current: Obj, new: Obj) -> None:
    """The registry strategy's PrepareForUpdate and ValidateUpdate for these kinds."""
    name = str(new["metadata"].get("name", ""))
    if kind == "DaemonSet":
        generation = template_generation(current) or 1
        old_template = (current.get("spec") or {}).get("template")
        if (new.get("spec") or {}).get("template") != old_template:
            generation += 1
        new["metadata"].setdefault("annotations", {})[TEMPLATE_GENERATION] = str(generation)
    elif kind == "StatefulSet":
        old_spec = current.get("spec") or {}
        new_spec = new.get("spec") or {}

        def fixed(spec: Obj) -> Obj:
            return {k: v for k, v in spec.items() if k not in _STS_MUTABLE}

        if fixed(copy.deepcopy(old_spec)) != fixed(copy.deepcopy(new_spec)):
            raise invalid(
                "StatefulSet", "apps", name, [("FieldValueForbidden", "spec", _STS_FORBIDDEN)]
            )
    elif kind == "ControllerRevision" and new.get("data") != current.get("data"):
        raise invalid(
            "ControllerRevision",
            "apps",
            name,
            [("FieldValueInvalid", "data", 'Invalid value: "": field is immutable')],
        )
