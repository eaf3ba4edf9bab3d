"""Kubernetes objects shaped exactly as a v1.28 API server returns them, for hand-made scenarios.

Names, uids, container ids and hashes are derived from the object names, so regenerating the
scenario files gives byte-identical output. Timestamps are seconds before the recording time.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

Obj = dict[str, Any]

RECORDED_AT = datetime(2026, 3, 14, 9, 30, 0, tzinfo=UTC)
_HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand


def ts(seconds_ago: float) -> str:
    return (RECORDED_AT - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def uid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts)))


def safe_hash(seed: str, length: int) -> str:
    digest = hashlib.sha256(seed.encode()).digest()
    return "".join(_HASH_ALPHABET[b % len(_HASH_ALPHABET)] for b in digest[:length])


def hexid(seed: str, length: int = 64) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:length]


_rv = [41000]


def reset_resource_versions() -> None:
    _rv[0] = 41000


def rv() -> str:
    _rv[0] += 7
    return str(_rv[0])


def backoff_text(restarts: int) -> str:
    """The kubelet's crash back-off: 10 s doubling per restart, capped at 5 min."""
    seconds = min(10 * 2 ** max(restarts - 1, 0), 300)
    minutes, secs = divmod(seconds, 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def namespace(name: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "uid": uid("ns", name),
            "resourceVersion": rv(),
            "creationTimestamp": ts(86400 * 60),
            "labels": {"kubernetes.io/metadata.name": name},
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def node(
    name: str,
    cpu: str = "4",
    memory: str = "8Gi",
    taints: list[Obj] | None = None,
    labels: dict[str, str] | None = None,
    memory_pressure: bool = False,
    disk_pressure: bool = False,
) -> Obj:
    alloc_memory = memory
    base_labels = {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "node.kubernetes.io/instance-type": "m5.xlarge",
        "topology.kubernetes.io/zone": "eu-west-1a" if name.endswith("1") else "eu-west-1b",
    }
    base_labels.update(labels or {})
    obj: Obj = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "uid": uid("node", name),
            "resourceVersion": rv(),
            "creationTimestamp": ts(86400 * 40),
            "labels": base_labels,
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {
            "podCIDR": "10.244.1.0/24",
            "providerID": f"aws:///eu-west-1a/i-{hexid(name, 17)}",
        },
        "status": {
            "addresses": [
                {
                    "type": "InternalIP",
                    "address": f"10.0.{len(name) % 7}.{sum(map(ord, name)) % 250}",
                },
                {"type": "Hostname", "address": name},
            ],
            "allocatable": {
                "cpu": cpu,
                "ephemeral-storage": "95492618523",
                "memory": alloc_memory,
                "pods": "110",
            },
            "capacity": {
                "cpu": cpu,
                "ephemeral-storage": "103600736Ki",
                "memory": alloc_memory,
                "pods": "110",
            },
            "conditions": [
                _node_cond(
                    "MemoryPressure",
                    memory_pressure,
                    "KubeletHasSufficientMemory",
                    "KubeletHasInsufficientMemory",
                    "kubelet has sufficient memory available",
                    "kubelet has insufficient memory available",
                ),
                _node_cond(
                    "DiskPressure",
                    disk_pressure,
                    "KubeletHasNoDiskPressure",
                    "KubeletHasDiskPressure",
                    "kubelet has no disk pressure",
                    "kubelet has disk pressure",
                ),
                _node_cond(
                    "PIDPressure",
                    False,
                    "KubeletHasSufficientPID",
                    "",
                    "kubelet has sufficient PID available",
                    "",
                ),
                {
                    "type": "Ready",
                    "status": "True",
                    "lastHeartbeatTime": ts(20),
                    "lastTransitionTime": ts(86400 * 40 - 60),
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                },
            ],
            "nodeInfo": {
                "architecture": "amd64",
                "containerRuntimeVersion": "containerd://1.7.11",
                "kernelVersion": "6.1.0-18-cloud-amd64",
                "kubeProxyVersion": "v1.28.6",
                "kubeletVersion": "v1.28.6",
                "operatingSystem": "linux",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
            },
        },
    }
    if taints:
        obj["spec"]["taints"] = taints
    return obj


def _node_cond(
    kind: str, bad: bool, ok_reason: str, bad_reason: str, ok_msg: str, bad_msg: str
) -> Obj:
    return {
        "type": kind,
        "status": "True" if bad else "False",
        "lastHeartbeatTime": ts(20),
        "lastTransitionTime": ts(900 if bad else 86400 * 40 - 60),
        "reason": bad_reason if bad else ok_reason,
        "message": bad_msg if bad else ok_msg,
    }


@dataclass
class Container:
    """A container of a pod template."""

    name: str
    image: str
    cpu_request: str | None = "100m"
    memory_request: str | None = "128Mi"
    cpu_limit: str | None = None
    memory_limit: str | None = "256Mi"
    port: int | None = 8080
    command: list[str] | None = None
    args: list[str] | None = None
    env: list[Obj] = field(default_factory=list)
    env_from: list[Obj] = field(default_factory=list)
    liveness: Obj | None = None
    readiness: Obj | None = None
    volume_mounts: list[Obj] = field(default_factory=list)

    def spec(self) -> Obj:
        out: Obj = {"name": self.name, "image": self.image}
        if self.command:
            out["command"] = self.command
        if self.args:
            out["args"] = self.args
        if self.env:
            out["env"] = self.env
        if self.env_from:
            out["envFrom"] = self.env_from
        out["imagePullPolicy"] = "Always" if self.image.endswith(":latest") else "IfNotPresent"
        if self.liveness:
            out["livenessProbe"] = self.liveness
        if self.port:
            out["ports"] = [{"containerPort": self.port, "name": "http", "protocol": "TCP"}]
        if self.readiness:
            out["readinessProbe"] = self.readiness
        resources: Obj = {}
        limits = {k: v for k, v in (("cpu", self.cpu_limit), ("memory", self.memory_limit)) if v}
        requests = {
            k: v for k, v in (("cpu", self.cpu_request), ("memory", self.memory_request)) if v
        }
        if limits:
            resources["limits"] = limits
        if requests:
            resources["requests"] = requests
        out["resources"] = resources
        out["terminationMessagePath"] = "/dev/termination-log"
        out["terminationMessagePolicy"] = "File"
        if self.volume_mounts:
            out["volumeMounts"] = self.volume_mounts
        return out


def http_probe(
    path: str, port: int = 8080, delay: int = 10, period: int = 10, failures: int = 3
) -> Obj:
    return {
        "failureThreshold": failures,
        "httpGet": {"path": path, "port": port, "scheme": "HTTP"},
        "initialDelaySeconds": delay,
        "periodSeconds": period,
        "successThreshold": 1,
        "timeoutSeconds": 1,
    }


def pod_spec(containers: list[Container], volumes: list[Obj] | None = None, **extra: Any) -> Obj:
    spec: Obj = {
        "containers": [c.spec() for c in containers],
        "dnsPolicy": "ClusterFirst",
        "enableServiceLinks": True,
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "securityContext": {},
        "serviceAccountName": "default",
        "terminationGracePeriodSeconds": 30,
    }
    if volumes:
        spec["volumes"] = volumes
    spec.update(extra)
    return spec


# -- container states ------------------------------------------------------------------------


@dataclass
class State:
    """How one container of a recorded pod looks now."""

    kind: str  # running | crashloop | waiting | terminated | pull_error
    restarts: int = 0
    reason: str = ""  # waiting reason, or the last termination reason
    message: str = ""
    exit_code: int = 1
    started_ago: float = 600  # running since / last started
    last_finished_ago: float = 40
    ready: bool | None = None


def container_status(
    pod: str, ns: str, pod_uid: str, c: Container, st: State, node_name: str
) -> Obj:
    image_id = f"{c.image.split(':')[0]}@sha256:{hexid('img' + c.image)}"
    cid = f"containerd://{hexid(pod + c.name + str(st.restarts))}"
    out: Obj = {"name": c.name, "image": c.image, "imageID": image_id, "containerID": cid}
    last: Obj = {}
    if st.kind in ("crashloop", "running") and st.restarts > 0:
        last = {
            "terminated": {
                "containerID": f"containerd://{hexid(pod + c.name + str(st.restarts - 1))}",
                "exitCode": st.exit_code,
                "finishedAt": ts(st.last_finished_ago),
                "reason": st.reason or "Error",
                "startedAt": ts(st.last_finished_ago + 4),
            }
        }
    if st.kind == "running":
        state: Obj = {"running": {"startedAt": ts(st.started_ago)}}
        ready = True if st.ready is None else st.ready
        started = True
    elif st.kind == "crashloop":
        state = {
            "waiting": {
                "message": (
                    f"back-off {backoff_text(st.restarts)} restarting failed "
                    f"container={c.name} pod={pod}_{ns}({pod_uid})"
                ),
                "reason": "CrashLoopBackOff",
            }
        }
        ready, started = False, False
    elif st.kind == "waiting":
        state = {"waiting": {"reason": st.reason}}
        if st.message:
            state["waiting"]["message"] = st.message
        ready, started = False, False
        out.pop("containerID")
        out["imageID"] = (
            ""
            if st.reason in ("ErrImagePull", "ImagePullBackOff", "InvalidImageName")
            else image_id
        )
    elif st.kind == "terminated":
        state = {
            "terminated": {
                "exitCode": st.exit_code,
                "finishedAt": ts(st.last_finished_ago),
                "reason": st.reason,
                "startedAt": ts(st.started_ago),
            }
        }
        if st.message:
            state["terminated"]["message"] = st.message
        ready, started = False, False
    else:
        raise ValueError(st.kind)
    out["lastState"] = last
    out["ready"] = ready
    out["restartCount"] = st.restarts
    out["started"] = started
    out["state"] = state
    return out


def pod(
    ns: str,
    name: str,
    containers: list[Container],
    states: list[State],
    *,
    owner: Obj | None = None,
    labels: dict[str, str] | None = None,
    node_name: str | None = "worker-1",
    created_ago: float = 3600,
    phase: str | None = None,
    pending_message: str | None = None,
    evicted_message: str | None = None,
    volumes: list[Obj] | None = None,
    annotations: dict[str, str] | None = None,
    spec_extra: Obj | None = None,
) -> Obj:
    pod_uid = uid("pod", ns, name)
    meta: Obj = {
        "name": name,
        "namespace": ns,
        "uid": pod_uid,
        "resourceVersion": rv(),
        "creationTimestamp": ts(created_ago),
        "labels": labels or {},
    }
    if annotations:
        meta["annotations"] = annotations
    if owner:
        meta["generateName"] = name[: name.rfind("-") + 1]
        meta["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "blockOwnerDeletion": True,
                "controller": True,
                "kind": owner["kind"],
                "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"],
            }
        ]
    spec = pod_spec(containers, volumes, **(spec_extra or {}))
    spec["tolerations"] = [
        {
            "effect": "NoExecute",
            "key": "node.kubernetes.io/not-ready",
            "operator": "Exists",
            "tolerationSeconds": 300,
        },
        {
            "effect": "NoExecute",
            "key": "node.kubernetes.io/unreachable",
            "operator": "Exists",
            "tolerationSeconds": 300,
        },
    ]
    spec["priority"] = 0
    spec["preemptionPolicy"] = "PreemptLowerPriority"
    spec["serviceAccount"] = "default"
    status: Obj
    if pending_message is not None:
        spec.pop("nodeName", None)
        status = {
            "conditions": [
                {
                    "lastProbeTime": None,
                    "lastTransitionTime": ts(created_ago),
                    "message": pending_message,
                    "reason": "Unschedulable",
                    "status": "False",
                    "type": "PodScheduled",
                }
            ],
            "phase": "Pending",
            "qosClass": _qos(containers),
        }
    else:
        assert node_name
        spec["nodeName"] = node_name
        statuses = [
            container_status(name, ns, pod_uid, c, st, node_name)
            for c, st in zip(containers, states, strict=True)
        ]
        all_ready = all(s["ready"] for s in statuses)
        any_running = any("running" in s["state"] for s in statuses)
        if phase is None:
            phase = (
                "Running"
                if any_running or any(st.kind == "crashloop" for st in states)
                else "Pending"
            )
        ready_reason = None if all_ready else "ContainersNotReady"
        not_ready = [s["name"] for s in statuses if not s["ready"]]
        ready_msg = (
            None if all_ready else f"containers with unready status: [{' '.join(not_ready)}]"
        )
        host_ip = f"10.0.1.{sum(map(ord, node_name)) % 250}"
        pod_ip = f"10.244.{sum(map(ord, ns)) % 250}.{sum(map(ord, name)) % 250}"
        status = {
            "conditions": [
                _pod_cond("Initialized", True, created_ago),
                _pod_cond(
                    "Ready",
                    all_ready,
                    min(
                        created_ago,
                        states[0].started_ago if all_ready else states[0].last_finished_ago,
                    ),
                    ready_reason,
                    ready_msg,
                ),
                _pod_cond(
                    "ContainersReady",
                    all_ready,
                    min(
                        created_ago,
                        states[0].started_ago if all_ready else states[0].last_finished_ago,
                    ),
                    ready_reason,
                    ready_msg,
                ),
                _pod_cond("PodScheduled", True, created_ago),
            ],
            "containerStatuses": statuses,
            "hostIP": host_ip,
            "hostIPs": [{"ip": host_ip}],
            "phase": phase,
            "podIP": pod_ip,
            "podIPs": [{"ip": pod_ip}],
            "qosClass": _qos(containers),
            "startTime": ts(created_ago),
        }
        if evicted_message is not None:
            status = {
                "conditions": [
                    {
                        "lastProbeTime": None,
                        "lastTransitionTime": ts(states[0].last_finished_ago),
                        "message": "The node was low on resource: memory. ",
                        "reason": "TerminationByKubelet",
                        "status": "True",
                        "type": "DisruptionTarget",
                    },
                    *status["conditions"],
                ],
                "containerStatuses": statuses,
                "hostIP": host_ip,
                "hostIPs": [{"ip": host_ip}],
                "message": evicted_message,
                "phase": "Failed",
                "qosClass": _qos(containers),
                "reason": "Evicted",
                "startTime": ts(created_ago),
            }
            status["conditions"][0]["message"] = evicted_message.split(". ")[0] + ". "
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


def _qos(containers: list[Container]) -> str:
    if all(
        c.memory_limit
        and c.cpu_limit
        and c.memory_limit == c.memory_request
        and c.cpu_limit == c.cpu_request
        for c in containers
    ):
        return "Guaranteed"
    if any(c.memory_request or c.cpu_request or c.memory_limit or c.cpu_limit for c in containers):
        return "Burstable"
    return "BestEffort"


def _pod_cond(
    kind: str, ok: bool, ago: float, reason: str | None = None, message: str | None = None
) -> Obj:
    out: Obj = {
        "lastProbeTime": None,
        "lastTransitionTime": ts(ago),
        "status": "True" if ok else "False",
        "type": kind,
    }
    if not ok and reason:
        out["reason"] = reason
    if not ok and message:
        out["message"] = message
    return out


# -- workloads ------------------------------------------------------------------------------


@dataclass
class Revision:
    """One ReplicaSet of a Deployment: its template and how many pods it has now."""

    number: int
    containers: list[Container]
    replicas: int
    ready: int
    created_ago: float
    volumes: list[Obj] | None = None
    spec_extra: Obj | None = None
    template_annotations: dict[str, str] | None = None


@dataclass
class Workload:
    deployment: Obj
    replicasets: list[Obj]  # by revision ascending
    hashes: list[str]

    @property
    def current_rs(self) -> Obj:
        return self.replicasets[-1]

    def rs_for(self, revision: int) -> Obj:
        for rs in self.replicasets:
            if rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == str(revision):
                return rs
        raise KeyError(revision)

    def pod_name(self, revision: int, i: int) -> str:
        rs = self.rs_for(revision)
        return f"{rs['metadata']['name']}-{safe_hash(rs['metadata']['name'] + str(i), 5)}"

    def labels(self, revision: int) -> dict[str, str]:
        rs = self.rs_for(revision)
        return dict(rs["spec"]["template"]["metadata"]["labels"])


def deployment(
    ns: str,
    name: str,
    revisions: list[Revision],
    replicas: int,
    *,
    max_surge: str = "25%",
    max_unavailable: str = "25%",
    created_ago: float = 86400 * 12,
    progress_deadline_exceeded: bool = False,
) -> Workload:
    app_labels = {"app.kubernetes.io/name": name}
    dep_uid = uid("deploy", ns, name)
    latest = revisions[-1]
    template = _template(app_labels, latest)
    total = sum(r.replicas for r in revisions)
    ready = sum(r.ready for r in revisions)
    updated = latest.replicas
    # Progressing stays NewReplicaSetAvailable once a rollout completed, whatever pods do later.
    rollout_done = len([r for r in revisions if r.replicas]) <= 1
    # Availability last changed when a pod of the latest revision last failed (recently).
    available_changed = min(latest.created_ago, 1400) if ready < replicas else created_ago
    conditions = [
        {
            "lastTransitionTime": ts(available_changed),
            "lastUpdateTime": ts(available_changed),
            "message": "Deployment has minimum availability."
            if ready >= replicas - _resolve(max_unavailable, replicas)
            else "Deployment does not have minimum availability.",
            "reason": "MinimumReplicasAvailable"
            if ready >= replicas - _resolve(max_unavailable, replicas)
            else "MinimumReplicasUnavailable",
            "status": "True"
            if ready >= replicas - _resolve(max_unavailable, replicas)
            else "False",
            "type": "Available",
        },
    ]
    rs_name_latest = f"{name}-{safe_hash(ns + name + str(latest.number), 10)}"
    if progress_deadline_exceeded:
        conditions.append(
            {
                "lastTransitionTime": ts(latest.created_ago - 600),
                "lastUpdateTime": ts(latest.created_ago - 600),
                "message": f'ReplicaSet "{rs_name_latest}" has timed out progressing.',
                "reason": "ProgressDeadlineExceeded",
                "status": "False",
                "type": "Progressing",
            }
        )
    else:
        conditions.append(
            {
                "lastTransitionTime": ts(created_ago),
                "lastUpdateTime": ts(latest.created_ago),
                "message": f'ReplicaSet "{rs_name_latest}" has successfully progressed.'
                if rollout_done
                else f'ReplicaSet "{rs_name_latest}" is progressing.',
                "reason": "NewReplicaSetAvailable" if rollout_done else "ReplicaSetUpdated",
                "status": "True",
                "type": "Progressing",
            }
        )
    dep: Obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "annotations": {"deployment.kubernetes.io/revision": str(latest.number)},
            "creationTimestamp": ts(created_ago),
            "generation": latest.number,
            "labels": dict(app_labels),
            "name": name,
            "namespace": ns,
            "resourceVersion": rv(),
            "uid": dep_uid,
        },
        "spec": {
            "progressDeadlineSeconds": 600,
            "replicas": replicas,
            "revisionHistoryLimit": 10,
            "selector": {"matchLabels": dict(app_labels)},
            "strategy": {
                "rollingUpdate": {"maxSurge": max_surge, "maxUnavailable": max_unavailable},
                "type": "RollingUpdate",
            },
            "template": template,
        },
        "status": {
            "availableReplicas": ready,
            "conditions": conditions,
            "observedGeneration": latest.number,
            "readyReplicas": ready,
            "replicas": total,
            "updatedReplicas": updated,
        },
    }
    if total - ready > 0:
        dep["status"]["unavailableReplicas"] = max(
            replicas - ready, total - ready if len(revisions) == 1 else replicas - ready
        )
    if ready == 0:
        dep["status"].pop("availableReplicas")
        dep["status"].pop("readyReplicas")
    replicasets = []
    hashes = []
    for r in revisions:
        h = safe_hash(ns + name + str(r.number), 10)
        hashes.append(h)
        rs_labels = {**app_labels, "pod-template-hash": h}
        rs_template = _template(rs_labels, r)
        rs: Obj = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "annotations": {
                    "deployment.kubernetes.io/desired-replicas": str(replicas),
                    "deployment.kubernetes.io/max-replicas": str(
                        replicas + _resolve(max_surge, replicas, up=True)
                    ),
                    "deployment.kubernetes.io/revision": str(r.number),
                },
                "creationTimestamp": ts(r.created_ago),
                "generation": 2 if r is not latest else 1,
                "labels": rs_labels,
                "name": f"{name}-{h}",
                "namespace": ns,
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "blockOwnerDeletion": True,
                        "controller": True,
                        "kind": "Deployment",
                        "name": name,
                        "uid": dep_uid,
                    }
                ],
                "resourceVersion": rv(),
                "uid": uid("rs", ns, name, h),
            },
            "spec": {
                "replicas": r.replicas,
                "selector": {"matchLabels": rs_labels},
                "template": rs_template,
            },
            "status": {"observedGeneration": 2 if r is not latest else 1, "replicas": r.replicas},
        }
        if r.replicas:
            rs["status"]["fullyLabeledReplicas"] = r.replicas
        if r.ready:
            rs["status"]["readyReplicas"] = r.ready
            rs["status"]["availableReplicas"] = r.ready
        replicasets.append(rs)
    return Workload(dep, replicasets, hashes)


def _template(labels: dict[str, str], r: Revision) -> Obj:
    meta: Obj = {"creationTimestamp": None, "labels": dict(labels)}
    if r.template_annotations:
        meta["annotations"] = dict(r.template_annotations)
    return {"metadata": meta, "spec": pod_spec(r.containers, r.volumes, **(r.spec_extra or {}))}


def _resolve(value: str, replicas: int, up: bool = False) -> int:
    if value.endswith("%"):
        raw = int(value[:-1]) * replicas / 100
        return int(-(-raw // 1)) if up else int(raw)
    return int(value)


# -- other objects ------------------------------------------------------------------------


def event(
    ns: str,
    obj: Obj,
    reason: str,
    message: str,
    *,
    kind: str = "Warning",
    count: int = 1,
    first_ago: float = 300,
    last_ago: float = 20,
    component: str = "kubelet",
    host: str | None = None,
    field_path: str | None = None,
) -> Obj:
    name = obj["metadata"]["name"]
    involved: Obj = {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": name,
        "namespace": ns,
        "resourceVersion": obj["metadata"].get("resourceVersion", ""),
        "uid": obj["metadata"]["uid"],
    }
    if field_path:
        involved["fieldPath"] = field_path
    source: Obj = {"component": component}
    if host:
        source["host"] = host
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "count": count,
        "eventTime": None,
        "firstTimestamp": ts(first_ago),
        "involvedObject": involved,
        "lastTimestamp": ts(last_ago),
        "message": message,
        "metadata": {
            "creationTimestamp": ts(first_ago),
            "name": f"{name}.{hexid(name + reason + message, 16)}",
            "namespace": ns,
            "resourceVersion": rv(),
            "uid": uid("event", ns, name, reason, message),
        },
        "reason": reason,
        "reportingComponent": component if component != "kubelet" else "kubelet",
        "reportingInstance": host or "",
        "source": source,
        "type": kind,
    }


def pdb(
    ns: str,
    name: str,
    labels: dict[str, str],
    *,
    min_available: int | None = None,
    max_unavailable: int | None = None,
    healthy: int,
    expected: int,
) -> Obj:
    spec: Obj = {"selector": {"matchLabels": labels}}
    if min_available is not None:
        spec["minAvailable"] = min_available
        desired = min_available
    else:
        assert max_unavailable is not None
        spec["maxUnavailable"] = max_unavailable
        desired = expected - max_unavailable
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {
            "creationTimestamp": ts(86400 * 12),
            "generation": 1,
            "name": name,
            "namespace": ns,
            "resourceVersion": rv(),
            "uid": uid("pdb", ns, name),
        },
        "spec": spec,
        "status": {
            "conditions": [
                {
                    "lastTransitionTime": ts(600),
                    "message": "" if healthy > desired else "",
                    "observedGeneration": 1,
                    "reason": "SufficientPods" if healthy > desired else "InsufficientPods",
                    "status": "True" if healthy > desired else "False",
                    "type": "DisruptionAllowed",
                }
            ],
            "currentHealthy": healthy,
            "desiredHealthy": desired,
            "disruptionsAllowed": max(healthy - desired, 0),
            "expectedPods": expected,
            "observedGeneration": 1,
        },
    }


def limit_range(ns: str, name: str, max_memory: str, default_memory: str = "256Mi") -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {
            "creationTimestamp": ts(86400 * 30),
            "name": name,
            "namespace": ns,
            "resourceVersion": rv(),
            "uid": uid("limitrange", ns, name),
        },
        "spec": {
            "limits": [
                {
                    "default": {"memory": default_memory},
                    "defaultRequest": {"memory": "128Mi"},
                    "max": {"memory": max_memory},
                    "type": "Container",
                }
            ]
        },
    }


def configmap(ns: str, name: str, data: dict[str, str]) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "data": data,
        "metadata": {
            "creationTimestamp": ts(86400 * 5),
            "name": name,
            "namespace": ns,
            "resourceVersion": rv(),
            "uid": uid("cm", ns, name),
        },
    }


def secret(ns: str, name: str, keys: list[str]) -> Obj:
    """A Secret as recorded: keys kept, values scrubbed (as `kubemedic record` writes them)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "data": {k: "" for k in keys},
        "metadata": {
            "creationTimestamp": ts(86400 * 5),
            "name": name,
            "namespace": ns,
            "resourceVersion": rv(),
            "uid": uid("secret", ns, name),
        },
        "type": "Opaque",
    }


def pvc(ns: str, name: str, storage_class: str, size: str = "20Gi") -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "creationTimestamp": ts(900),
            "finalizers": ["kubernetes.io/pvc-protection"],
            "name": name,
            "namespace": ns,
            "resourceVersion": rv(),
            "uid": uid("pvc", ns, name),
        },
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": size}},
            "storageClassName": storage_class,
            "volumeMode": "Filesystem",
        },
        "status": {"phase": "Pending"},
    }
