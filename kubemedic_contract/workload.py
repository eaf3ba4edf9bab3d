"""The workload a pod belongs to: the controller at the top of its owner chain."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class WorkloadRef(BaseModel):
    """`kind` and `name` of the top controller (Pod -> ReplicaSet -> Deployment, Job ->
    CronJob, StatefulSet, DaemonSet, a bare ReplicaSet or Job); a bare pod is its own
    workload (`Pod`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    name: str

    @property
    def key(self) -> str:
        """`Kind/name`, as the rules key a workload (policies.workload_key)."""
        return f"{self.kind}/{self.name}"
