# ruff: noqa: E501  (log lines and manifests are data, kept verbatim)
"""Recording the pod kinds beyond Deployments (StatefulSets, DaemonSets, Jobs, CronJobs,
Services, PersistentVolumeClaims and nodes) from kubesim; their scenarios are in
`evals.tools.catalogue` (statefulsets, daemonsets, jobs, services, claims, nodes).

Each incident is recorded from kubesim itself: the manifests are applied to a simulated
cluster, its clock runs until the incident shows (a crash loop, a stuck rollout, a failed Job,
a node gone NotReady), and every object of the cluster is kept as the API server returns it,
status included, with the containers' logs. Behaviour the recording cannot show is said with
`kubesim.io/*` annotations on the templates (docs/kubesim.md); a pod that crashes while a fresh
one of the same template would not (a transient failure) is the one hand edit: its container
status is set to the crash loop it is in, and the loader keeps it crashing.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Obj = dict[str, Any]
START = datetime(2026, 3, 14, 9, 0, 0, tzinfo=UTC)
NODE_NAMES = ["worker-1", "worker-2"]
SYSTEM_NAMESPACES = {"kube-system", "kube-public", "kube-node-lease", "default"}
NO_SET_WRITES = ["scale_down_deployment"]


@dataclass
class Recording:
    objects: list[Obj]
    logs: list[dict[str, Any]]
    recorded_at: str
    target_ns: str
    target_pod: str


@dataclass
class Sim:
    """A simulated cluster to play an incident on, then record."""

    nodes: list[Any] = field(default_factory=lambda: list(NODE_NAMES))
    sim: Any = None

    def __enter__(self) -> Any:
        from kubesim import KubeSim

        self.sim = KubeSim(speed=0.0, start=START, nodes=self.nodes)
        self.sim.start()
        return self.sim

    def __exit__(self, *exc: object) -> None:
        self.sim.stop()


def _kinds() -> list[Any]:
    from kubesim import store

    return [
        store.NAMESPACES,
        store.NODES,
        store.STORAGECLASSES,
        store.PVS,
        store.PVCS,
        store.DEPLOYMENTS,
        store.REPLICASETS,
        store.STATEFULSETS,
        store.DAEMONSETS,
        store.CONTROLLERREVISIONS,
        store.JOBS,
        store.CRONJOBS,
        store.SERVICES,
        store.ENDPOINTSLICES,
        store.CONFIGMAPS,
        store.PDBS,
        store.PODS,
        store.EVENTS,
    ]


def record(sim: Any, target_ns: str, target_pod: str) -> Recording:
    """Every object of the cluster (outside the system namespaces) and every container log."""
    objects: list[Obj] = []
    for rtype in _kinds():
        for obj in sim.store.list(rtype):
            ns = obj["metadata"].get("namespace", "")
            if rtype.namespaced and ns in SYSTEM_NAMESPACES:
                continue
            if rtype.kind == "Namespace" and obj["metadata"]["name"] in SYSTEM_NAMESPACES:
                continue
            obj = copy.deepcopy(obj)
            group = f"{rtype.group}/" if rtype.group else ""
            obj.setdefault("apiVersion", f"{group}{rtype.version}")
            obj.setdefault("kind", rtype.kind)
            obj["metadata"].pop("managedFields", None)
            objects.append(obj)
    logs = []
    for pod in objects:
        if pod["kind"] != "Pod":
            continue
        meta = pod["metadata"]
        for c in pod["spec"].get("containers") or []:
            previous = sim.logs.read(meta["namespace"], meta["name"], c["name"], previous=True)
            current = sim.logs.read(meta["namespace"], meta["name"], c["name"])
            if previous or current:
                logs.append(
                    {
                        "namespace": meta["namespace"],
                        "pod": meta["name"],
                        "container": c["name"],
                        "previous": [line for _, line in previous or []],
                        "current": [line for _, line in current or []],
                    }
                )
    at = sim.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    return Recording(objects, logs, at, target_ns, target_pod)


def pods_named(sim: Any, ns: str, prefix: str) -> list[Obj]:
    from kubesim.store import PODS

    return sorted(
        (p for p in sim.store.list(PODS, ns) if p["metadata"]["name"].startswith(prefix)),
        key=lambda p: (p["metadata"].get("creationTimestamp", ""), p["metadata"]["name"]),
    )


def crash_looping(rec: Recording, pod_name: str, exit_code: int, lines: list[str]) -> None:
    """Record `pod_name` as crash-looping (restarts 5, back-off) with `lines` as the log of its
    last run; the loader keeps the recorded pod crashing, its template stays healthy."""
    pod = next(
        o
        for o in rec.objects
        if o["kind"] == "Pod"
        and o["metadata"]["name"] == pod_name
        and o["metadata"]["namespace"] == rec.target_ns
    )
    status = pod["status"]
    cs = status["containerStatuses"][0]
    started = (cs.get("state") or {}).get("running", {}).get("startedAt", rec.recorded_at)
    cs.update(
        {
            "ready": False,
            "started": False,
            "restartCount": 5,
            "state": {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off 2m40s restarting failed container={cs['name']} pod={pod_name}_{rec.target_ns}({pod['metadata']['uid']})",
                }
            },
            "lastState": {
                "terminated": {
                    "exitCode": exit_code,
                    "reason": "Error",
                    "startedAt": started,
                    "finishedAt": rec.recorded_at,
                    "containerID": cs.get("containerID", ""),
                }
            },
        }
    )
    for cond in status.get("conditions") or []:
        if cond["type"] in ("Ready", "ContainersReady"):
            cond["status"] = "False"
            cond["reason"] = "ContainersNotReady"
            cond["message"] = f"containers with unready status: [{cs['name']}]"
    rec.logs = [
        log
        for log in rec.logs
        if not (log["pod"] == pod_name and log["namespace"] == rec.target_ns)
    ]
    rec.logs.append(
        {
            "namespace": rec.target_ns,
            "pod": pod_name,
            "container": cs["name"],
            "previous": lines,
            "current": [],
        }
    )


def add_event(
    rec: Recording, pod_name: str, reason: str, message: str, kind: str = "Warning"
) -> None:
    pod = next(o for o in rec.objects if o["kind"] == "Pod" and o["metadata"]["name"] == pod_name)
    rec.objects.append(
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{pod_name}.18a3c2f0e1d4b5a6",
                "namespace": rec.target_ns,
                "creationTimestamp": rec.recorded_at,
            },
            "involvedObject": {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": pod_name,
                "namespace": rec.target_ns,
                "uid": pod["metadata"]["uid"],
            },
            "reason": reason,
            "message": message,
            "type": kind,
            "count": 1,
            "firstTimestamp": rec.recorded_at,
            "lastTimestamp": rec.recorded_at,
            "source": {"component": "kubelet", "host": pod["spec"].get("nodeName", "")},
        }
    )


def assemble(
    name: str,
    tags: list[str],
    description: str,
    rec: Recording,
    expect: dict[str, Any],
    **rest: Any,
) -> dict[str, Any]:
    return {
        "name": name,
        "tags": tags,
        "description": " ".join(description.split()),
        "target": {"namespace": rec.target_ns, "pod": rec.target_pod},
        "policy": rest.pop("policy", "default"),
        "cluster": {"recorded_at": rec.recorded_at, "objects": rec.objects},
        "logs": rec.logs,
        "behaviour": rest.pop("behaviour", {}),
        "approvals": rest.pop("approvals", {}),
        "expect": expect,
        **rest,
    }
