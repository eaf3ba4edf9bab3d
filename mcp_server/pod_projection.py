"""The compact projection of a pod the pod cache keeps (see `compact_pod`)."""

from __future__ import annotations

import sys
from typing import Any

JSON = dict[str, Any]
Key = tuple[str, str]  # (namespace, name)


def pod_key(pod: JSON) -> Key:
    meta = pod.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def controller_ref(obj: JSON) -> JSON:
    """The owner reference marked `controller`, else the first one, else `{}`."""
    refs = [
        r for r in (obj.get("metadata") or {}).get("ownerReferences") or [] if isinstance(r, dict)
    ]
    return next((r for r in refs if r.get("controller") is True), refs[0] if refs else {})


def restarts(pod: JSON) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return sum(int(s.get("restartCount") or 0) for s in statuses if isinstance(s, dict))


# --------------------------------------------------------------------------------------------
# The compact projection

_META_KEYS = (
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "ownerReferences",
)
_SPEC_KEYS = ("nodeName", "restartPolicy", "priority")
_CONTAINER_KEYS = ("name", "image", "resources", "resizePolicy", "restartPolicy")
_intern = sys.intern
_STATUS_KEYS = ("phase", "reason", "message", "qosClass", "nominatedNodeName", "resize")
_CONDITION_KEYS = ("type", "status", "reason", "message")
_CONTAINER_STATUS_KEYS = (
    "name",
    "ready",
    "started",
    "restartCount",
    "image",
    "state",
    "lastState",
    "resources",
    "allocatedResources",
)
# Small parts that many pods have alike (a ReplicaSet's labels and owner, a template's
# containers, conditions without their timestamps) are kept once and shared by the pods that
# have them: cached pods are read, never changed.
_SHARED_LIMIT = 100_000
_shared: dict[Any, Any] = {}


def _freeze(value: Any) -> Any:
    """A hashable key for a JSON value (types kept apart: True is not 1)."""
    kind = type(value)
    if kind is dict:
        return (
            dict,
            tuple([(k, v if type(v) is str else _freeze(v)) for k, v in value.items()]),
        )
    if kind is list:
        return (list, tuple([v if type(v) is str else _freeze(v) for v in value]))
    if kind is str:
        return value
    return (kind, value)


def _share(value: Any) -> Any:
    """The one copy of an equal value seen before, or this one (now the shared copy)."""
    key = _freeze(value)
    found = _shared.get(key)
    if found is not None:
        return found
    if len(_shared) >= _SHARED_LIMIT:
        _shared.clear()
    _shared[key] = value
    return value


def _interned(value: Any) -> Any:
    return _intern(value) if type(value) is str and len(value) <= 64 else value


def _container(c: Any) -> Any:
    if not isinstance(c, dict):
        return c
    return {key: c[key] for key in _CONTAINER_KEYS if key in c}


def compact_pod(pod: JSON) -> JSON:
    """What the server reads from a cached pod, and nothing else: the metadata that names,
    versions and owns it (labels, owner references, uid, resourceVersion, timestamps), the
    node, each container's name, image, resources and resize policy, and the status (see
    `_status`). Annotations, managed fields, volumes, env, commands, probes, IPs and ids are
    dropped (a diagnosis reads the pod itself from the API server). Parts that many pods have
    alike are shared between them: do not change a compact pod."""
    meta_in = pod.get("metadata") or {}
    meta: JSON = {}
    for key in _META_KEYS:
        if key in meta_in:
            value = meta_in[key]
            if key in ("labels", "ownerReferences"):
                value = _share(value)
            elif key == "namespace":
                value = _interned(value)
            meta[key] = value
    spec_in = pod.get("spec") or {}
    spec: JSON = {key: _interned(spec_in[key]) for key in _SPEC_KEYS if key in spec_in}
    for key in ("containers", "initContainers"):
        if key in spec_in and isinstance(spec_in[key], list):
            spec[key] = _share([_container(c) for c in spec_in[key]])
    out: JSON = {"metadata": meta, "spec": spec}
    status = pod.get("status")
    if isinstance(status, dict):
        out["status"] = _status(status)
    return out


def _status(status: JSON) -> JSON:
    """The status the classifier, the health score, the verifier and the resize looks read:
    phase, reason and message; conditions without their timestamps; container statuses
    without image and container ids."""
    out: JSON = {key: status[key] for key in _STATUS_KEYS if key in status}
    phase = out.get("phase")
    if type(phase) is str:
        out["phase"] = _intern(phase)
    conditions = status.get("conditions")
    if isinstance(conditions, list):
        kept = [
            {k: c[k] for k in _CONDITION_KEYS if k in c} if isinstance(c, dict) else c
            for c in conditions
        ]
        out["conditions"] = _share(kept)
    for key in ("initContainerStatuses", "containerStatuses"):
        statuses = status.get(key)
        if isinstance(statuses, list):
            out[key] = [
                {k: c[k] for k in _CONTAINER_STATUS_KEYS if k in c} if isinstance(c, dict) else c
                for c in statuses
            ]
    return out
