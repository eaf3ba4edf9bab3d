"""Small helpers every part of the kubelet shares: names, field paths, resources, policies."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from kubesim.controllers.behaviour import Behaviour, BehaviourError, container_behaviour
from kubesim.controllers.quantity import QuantityError, cpu_millis, memory_bytes
from kubesim.store import Obj

log = logging.getLogger(__name__)

# How often a pod stuck in a back-off or a config error repeats its events (a pod resync).
REPEAT_SECONDS = 15.0
# Failed volume mounts are retried (and reported) about every two minutes.
MOUNT_RETRY_SECONDS = 120.0
CONFIG_RETRY_SECONDS = 10.0
CACHED_PULL_SECONDS = 0.8
# Phases whose events the kubelet repeats on every resync while the container stays in them.
REPEATING_PHASES = ("pull-backoff", "backoff", "config-error", "invalid")


def pod_ref(pod: Obj) -> str:
    meta = pod["metadata"]
    return f"{meta['name']}_{meta.get('namespace', '')}({meta.get('uid', '')})"


def field_path(name: str, init: bool = False) -> str:
    return f"spec.initContainers{{{name}}}" if init else f"spec.containers{{{name}}}"


def node_name(node: Obj) -> str:
    return str(node["metadata"]["name"])


def memory_limit(container: Obj) -> float | None:
    value = ((container.get("resources") or {}).get("limits") or {}).get("memory")
    if value is None:
        return None
    try:
        return memory_bytes(value)
    except QuantityError:
        return None


def container_id(pod_uid: str, name: str, restart: int) -> str:
    return "containerd://" + hashlib.sha256(f"{pod_uid}/{name}/{restart}".encode()).hexdigest()


def behaviour_of(pod: Obj, spec: Obj) -> Behaviour:
    """The container's behaviour; bad `kubesim.io/*` annotations are logged and ignored."""
    try:
        return container_behaviour(pod, spec)
    except (BehaviourError, QuantityError, ValueError) as exc:
        log.warning(
            "kubesim: ignoring bad behaviour annotations on %s: %s",
            pod["metadata"]["name"],
            exc,
        )
        return container_behaviour({"metadata": {}}, spec)


def restart_policy(pod: Obj, init: bool) -> str:
    policy = str((pod.get("spec") or {}).get("restartPolicy", "Always"))
    if init and policy == "Always":
        return "OnFailure"  # a finished init container is done; a failed one is retried
    return policy


def restarts(policy: str, terminated: dict[str, Any]) -> bool:
    if policy == "Always":
        return True
    if policy == "OnFailure":
        return int(terminated.get("exitCode", 1)) != 0
    return False


def resources(container: Obj) -> dict[str, Any]:
    """A container's cpu and memory requests and limits (what a resize may change)."""
    res = container.get("resources") or {}
    out: dict[str, Any] = {}
    for section in ("requests", "limits"):
        values = {k: v for k, v in (res.get(section) or {}).items() if k in ("cpu", "memory")}
        if values:
            out[section] = values
    return out


def with_resources(spec: Obj, resources: dict[str, Any] | None) -> Obj:
    """`spec` with its cpu and memory requests and limits replaced by `resources`."""
    if resources is None:
        return spec
    merged = dict(spec)
    original = dict(spec.get("resources") or {})
    for section in ("requests", "limits"):
        others = {
            k: v for k, v in (original.get(section) or {}).items() if k not in ("cpu", "memory")
        }
        values = {**others, **(resources.get(section) or {})}
        if values:
            original[section] = values
        else:
            original.pop(section, None)
    merged["resources"] = original
    return merged


def request(resources: dict[str, Any], name: str) -> float:
    value = (resources.get("requests") or {}).get(name, (resources.get("limits") or {}).get(name))
    if value is None:
        return 0.0
    try:
        return cpu_millis(value) if name == "cpu" else memory_bytes(value)
    except QuantityError:
        return 0.0
