"""Which workload an entry of `list_unhealthy_pods` belongs to: the server says so.

Each entry carries `workload` (`kind`, `name`): the top of the pod's owner chain as the
server read it (Pod -> ReplicaSet -> Deployment, Job -> CronJob, a StatefulSet, a DaemonSet,
a bare ReplicaSet or Job, or the pod itself). The rules key workloads the same way
(`policies.workload_key`: "Deployment/web").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from agent.tools import ToolboxError
from kubemedic_contract import ListUnhealthyResult, UnhealthyPodInfo


def entry_name(entry: UnhealthyPodInfo) -> str:
    return entry.pod_name


def entry_workload(entry: UnhealthyPodInfo) -> str:
    """ "Kind/name" of the pod's workload ("Pod/x" for a bare pod)."""
    return entry.workload.key


def parse_unhealthy(result: ListUnhealthyResult | Mapping[str, Any]) -> ListUnhealthyResult:
    """A list_unhealthy_pods result, typed (a failed call: no pods)."""
    if isinstance(result, ListUnhealthyResult):
        return result
    try:
        return ListUnhealthyResult.model_validate(dict(result))
    except ValidationError as error:
        raise ToolboxError(f"list_unhealthy_pods answered outside its schema: {error}") from None


def unhealthy_of_workload(
    result: ListUnhealthyResult | Mapping[str, Any], namespace: str, workload: str | None
) -> list[UnhealthyPodInfo]:
    """The entries of a list_unhealthy_pods result that belong to `workload` (any workload
    when None) in `namespace`."""
    return [
        entry
        for entry in parse_unhealthy(result).pods
        if entry.namespace == namespace and workload in (None, entry_workload(entry))
    ]
