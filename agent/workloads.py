"""Which workload an entry of `list_unhealthy_pods` belongs to.

The server's pod cache knows each pod's nearest owner (a ReplicaSet for a Deployment's pod);
the rules key workloads by the top controller (`policies.workload_key`: "Deployment/web").
A Deployment names its ReplicaSets `<deployment>-<pod-template-hash>`, which is how a pod of
any revision (before or after a rollback or a memory patch) is matched to its Deployment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_TEMPLATE_HASH = re.compile(r"^(?P<deployment>[a-z0-9]([-a-z0-9]*[a-z0-9])?)-[a-z0-9]{5,10}$")


def entry_name(pod: Mapping[str, Any]) -> str:
    return str(pod.get("name") or pod.get("pod_name") or "")


def entry_workload(pod: Mapping[str, Any]) -> str:
    """ "Kind/name" of the pod's top controller as far as the entry tells ("Pod/x" if bare)."""
    raw = pod.get("workload")
    if isinstance(raw, str) and "/" in raw:
        return raw
    if isinstance(raw, Mapping) and raw.get("kind") and raw.get("name"):
        return f"{raw['kind']}/{raw['name']}"
    kind = pod.get("workload_kind") or pod.get("owner_kind")
    name = pod.get("workload_name") or pod.get("owner_name")
    if kind == "ReplicaSet" and isinstance(name, str):
        match = _TEMPLATE_HASH.match(name)
        if match:
            return f"Deployment/{match.group('deployment')}"
    if kind and name:
        return f"{kind}/{name}"
    return f"Pod/{entry_name(pod)}"


def belongs_to(pod: Mapping[str, Any], workload: str | None) -> bool:
    if workload is None:
        return True
    if entry_workload(pod) == workload:
        return True
    owner = f"{pod.get('owner_kind')}/{pod.get('owner_name')}"
    return owner == workload


def unhealthy_pods(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The pod entries of a list_unhealthy_pods result."""
    pods = result.get("pods") or result.get("unhealthy_pods") or result.get("items") or []
    return [dict(p) for p in pods if isinstance(p, Mapping)]


def unhealthy_of_workload(
    result: Mapping[str, Any], namespace: str, workload: str | None
) -> list[dict[str, Any]]:
    """The entries of a list_unhealthy_pods result that belong to `workload` in `namespace`."""
    return [
        pod
        for pod in unhealthy_pods(result)
        if pod.get("namespace", namespace) == namespace and belongs_to(pod, workload)
    ]
