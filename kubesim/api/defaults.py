"""Server-side defaulting, as the API server's defaulters and admission fill a new object in."""

from __future__ import annotations

from typing import Any

from kubesim.api import apps_workloads, leases, storage
from kubesim.version import DEFAULT, KubeVersion

Obj = dict[str, Any]
RESIZE_RESOURCES = ("cpu", "memory")

_POD_TOLERATIONS = [
    {
        "key": "node.kubernetes.io/not-ready",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
    {
        "key": "node.kubernetes.io/unreachable",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
]


def _pull_policy(image: str) -> str:
    last = image.rsplit("/", 1)[-1]
    if "@" in last:
        return "IfNotPresent"
    if ":" not in last or last.endswith(":latest"):
        return "Always"
    return "IfNotPresent"


def _container(c: Obj, *, pod: bool) -> None:
    c.setdefault("resources", {})
    resources = c["resources"]
    if pod and resources.get("limits"):
        # A limit without a request means the request equals the limit (SetDefaults_Pod).
        requests = resources.setdefault("requests", {})
        for res, value in resources["limits"].items():
            requests.setdefault(res, value)
    for port in c.get("ports") or []:
        port.setdefault("protocol", "TCP")
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("imagePullPolicy", _pull_policy(str(c.get("image", ""))))
    for probe_name in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = c.get(probe_name)
        if isinstance(probe, dict):
            probe.setdefault("timeoutSeconds", 1)
            probe.setdefault("periodSeconds", 10)
            probe.setdefault("successThreshold", 1)
            probe.setdefault("failureThreshold", 3)
            http = probe.get("httpGet")
            if isinstance(http, dict):
                http.setdefault("path", "/")
                http.setdefault("scheme", "HTTP")


def _resize_policy(c: Obj, kube: KubeVersion, *, pod: bool) -> None:
    """From 1.33 a pod's containers get `NotRequired` for each of cpu and memory they ask
    for (SetDefaults_Pod; templates are not defaulted). Before, the field is dropped, as a
    server with InPlacePodVerticalScaling off drops it."""
    if not kube.in_place_resize:
        c.pop("resizePolicy", None)
        return
    if not pod:
        return
    resources = c.get("resources") or {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    if not requests and not limits:
        return
    policy = c.get("resizePolicy")
    if not isinstance(policy, list):
        policy = []
    named = {p.get("resourceName") for p in policy if isinstance(p, dict)}
    for name in RESIZE_RESOURCES:
        if name not in named and (name in requests or name in limits):
            policy.append({"resourceName": name, "restartPolicy": "NotRequired"})
    if policy:
        c["resizePolicy"] = policy


def pod_spec(spec: Obj, *, pod: bool, kube: KubeVersion = DEFAULT) -> None:
    for c in spec.get("initContainers") or []:
        _container(c, pod=pod)
        if not kube.in_place_resize:
            c.pop("resizePolicy", None)
    for c in spec.get("containers") or []:
        _container(c, pod=pod)
        _resize_policy(c, kube, pod=pod)
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    if pod:
        spec.setdefault("serviceAccountName", "default")
        spec["serviceAccount"] = spec["serviceAccountName"]
        tolerations = spec.setdefault("tolerations", [])
        for tol in _POD_TOLERATIONS:
            if not any(t.get("key") == tol["key"] for t in tolerations):
                tolerations.append(dict(tol))
        spec.setdefault("priority", 0)
        spec.setdefault("enableServiceLinks", True)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")


def _template(template: Obj, kube: KubeVersion) -> None:
    meta = template.setdefault("metadata", {})
    meta.setdefault("creationTimestamp", None)
    pod_spec(template.setdefault("spec", {}), pod=False, kube=kube)


def qos_class(spec: Obj) -> str:
    containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    any_set = False
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        limits = res.get("limits") or {}
        requests = res.get("requests") or {}
        if limits or requests:
            any_set = True
        for name in ("cpu", "memory"):
            if name not in limits or requests.get(name, limits.get(name)) != limits.get(name):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def apply_defaults(kind: str, obj: Obj, kube: KubeVersion = DEFAULT) -> None:
    """Fill in what the server (of version `kube`) defaults for a kind (in place)."""
    spec = obj.get("spec")
    if kind == "Pod":
        pod_spec(obj.setdefault("spec", {}), pod=True, kube=kube)
    elif kind == "Deployment" and isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        strategy = spec.setdefault("strategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            rolling.setdefault("maxUnavailable", "25%")
            rolling.setdefault("maxSurge", "25%")
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        _template(spec.setdefault("template", {}), kube)
    elif kind in apps_workloads.DEFAULTED_KINDS and isinstance(spec, dict):
        apps_workloads.apply_defaults(kind, obj)
        _template(spec.setdefault("template", {}), kube)
    elif kind == "ReplicaSet" and isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        _template(spec.setdefault("template", {}), kube)
    elif kind == "Namespace":
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        labels = obj["metadata"].setdefault("labels", {})
        labels.setdefault("kubernetes.io/metadata.name", obj["metadata"].get("name", ""))
    elif kind == "Event":
        obj.setdefault("reportingComponent", "")
        obj.setdefault("reportingInstance", "")
    elif kind == "Secret":
        obj.setdefault("type", "Opaque")
    elif kind == "Lease":
        leases.normalise(obj)
    elif kind in storage.KINDS:
        storage.apply_defaults(kind, obj)
    elif kind in _NETWORK_BATCH_KINDS:
        _network_batch_defaults(kind, obj, kube)


_NETWORK_BATCH_KINDS = {"Job", "CronJob", "Service", "Endpoints", "EndpointSlice"}


def _network_batch_defaults(kind: str, obj: Obj, kube: KubeVersion) -> None:
    from kubesim.api import batch, services  # noqa: PLC0415 - they import nothing of this module

    if kind == "Job":
        batch.default_job(obj, lambda template: _template(template, kube))
    elif kind == "CronJob":
        batch.default_cronjob(obj, lambda template: _template(template, kube))
    elif kind == "Service":
        services.default_service(obj)
    else:
        services.default_ports(obj, named=True)


def initial_status(kind: str, obj: Obj) -> Obj | None:
    """The status the server gives a freshly created object (client-sent status is dropped)."""
    if kind in ("Job", "CronJob"):
        return {}
    if kind == "Service":
        return {"loadBalancer": {}}
    if kind == "Pod":
        return {"phase": "Pending", "qosClass": qos_class(obj.get("spec") or {})}
    if kind == "Namespace":
        return {"phase": "Active"}
    if kind in storage.KINDS:
        return storage.initial_status(kind)
    if kind in apps_workloads.DEFAULTED_KINDS:
        return apps_workloads.initial_status(kind)
    if kind in ("Deployment", "ReplicaSet", "PodDisruptionBudget"):
        if kind == "ReplicaSet":
            return {"replicas": 0}
        if kind == "PodDisruptionBudget":
            return {
                "disruptionsAllowed": 0,
                "currentHealthy": 0,
                "desiredHealthy": 0,
                "expectedPods": 0,
            }
        return {}
    return None
