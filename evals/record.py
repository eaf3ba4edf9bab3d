"""Capture a live incident into the scenario format, with secrets scrubbed.

What is captured, for one pod: the pod, its owner chain (ReplicaSet, Deployment) and the
Deployment's other ReplicaSets and pods, the nodes, the events about any of those, the
namespace's PodDisruptionBudgets and LimitRanges, the ConfigMaps / Secrets / PVCs the pod
refers to (that exist), the logs of every container (current and previous), and pod metrics
when metrics.k8s.io answers. Objects are kept as the API server returned them (raw JSON).

What is scrubbed before anything is written: Secret values (keys kept), ConfigMap values,
environment variable values, `last-applied-configuration` and managedFields, and anything that
looks like a credential in logs, event messages, commands and arguments (`redact_text`), plus
every environment value that also appears verbatim in a log line.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from agent.redaction import MASK, redact_text
from evals.format import Scenario

Obj = dict[str, Any]
SCRUBBED = "[scrubbed]"
_DROP_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)
LOG_TAIL_LINES = 300


class RecordError(RuntimeError):
    """The incident could not be captured (no such pod, API unreachable)."""


# -- scrubbing (pure) ----------------------------------------------------------------------


def _scrub_container(container: Obj, found: set[str]) -> None:
    for env in container.get("env") or []:
        if "value" in env:
            value = str(env["value"])
            if len(value) >= 4:
                found.add(value)
            env["value"] = SCRUBBED
    for key in ("command", "args"):
        if key in container:
            container[key] = [redact_text(str(part)) for part in container[key]]


def _pod_specs(obj: Obj) -> list[Obj]:
    kind = obj.get("kind")
    if kind == "Pod":
        return [obj.get("spec") or {}]
    if kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job"):
        return [((obj.get("spec") or {}).get("template") or {}).get("spec") or {}]
    return []


def scrub_object(obj: Obj, found: set[str] | None = None) -> Obj:
    """A copy of `obj` without secret material; env values seen are added to `found`."""
    found = found if found is not None else set()
    out = copy.deepcopy(obj)
    meta = out.get("metadata") or {}
    meta.pop("managedFields", None)
    annotations = meta.get("annotations") or {}
    for name in _DROP_ANNOTATIONS:
        annotations.pop(name, None)
    for spec in _pod_specs(out):
        for group in ("initContainers", "containers", "ephemeralContainers"):
            for container in spec.get(group) or []:
                _scrub_container(container, found)
    kind = out.get("kind")
    if kind == "Secret":
        for key in ("data", "stringData"):
            if key in out:
                out[key] = {k: "" for k in out[key] or {}}
    elif kind == "ConfigMap":
        for key in ("data", "binaryData"):
            if key in out:
                out[key] = {k: SCRUBBED for k in out[key] or {}}
    elif kind == "Event" and isinstance(out.get("message"), str):
        out["message"] = redact_text(out["message"])
    return out


def scrub_line(line: str, known: set[str]) -> str:
    """A log line with credentials and known secret values masked."""
    for value in sorted(known, key=len, reverse=True):
        if value in line:
            line = line.replace(value, MASK)
    return redact_text(line)


# -- capture -------------------------------------------------------------------------------


class ClusterReader(Protocol):
    """What recording needs from a cluster (the kubernetes client, or a fake in unit tests)."""

    def get(self, path: str, query: dict[str, str] | None = None) -> Any: ...

    def text(self, path: str, query: dict[str, str] | None = None) -> str | None: ...


class KubernetesReader:
    """Raw GETs through the official client: objects exactly as the API server returned them."""

    def __init__(self, kubeconfig: str | Path | None = None, context: str | None = None) -> None:
        from kubernetes import client, config

        try:
            if kubeconfig is None:
                try:
                    config.load_kube_config(context=context)  # type: ignore[no-untyped-call]
                    self.api = client.ApiClient()
                except config.ConfigException:
                    config.load_incluster_config()  # type: ignore[no-untyped-call]
                    self.api = client.ApiClient()
            else:
                self.api = config.new_client_from_config(  # type: ignore[no-untyped-call]
                    str(kubeconfig), context=context
                )
        except Exception as exc:  # noqa: BLE001 - any config failure is one clear error
            raise RecordError(f"cannot load a kubeconfig: {exc}") from exc

    def _call(self, path: str, query: dict[str, str] | None) -> tuple[int, str]:
        try:
            method, url, headers, body, post = self.api.param_serialize(
                method="GET",
                resource_path=path,
                query_params=list((query or {}).items()),
                header_params={"Accept": "application/json, */*"},
                auth_settings=["BearerToken"],
            )
            response = self.api.call_api(
                method, url, header_params=headers, body=body, post_params=post,
                _request_timeout=30,
            )  # fmt: skip
            response.read()  # type: ignore[no-untyped-call]
        except Exception as exc:  # noqa: BLE001 - network and TLS errors
            raise RecordError(f"GET {path}: {exc}") from exc
        data = response.data or b""
        return int(response.status), data.decode("utf-8", "replace")

    def get(self, path: str, query: dict[str, str] | None = None) -> Any:
        status, body = self._call(path, query)
        if status == 404:
            return None
        if status != 200:
            raise RecordError(f"GET {path}: HTTP {status}: {body[:200]}")
        return json.loads(body)

    def text(self, path: str, query: dict[str, str] | None = None) -> str | None:
        status, body = self._call(path, query)
        return body if status == 200 else None

    def close(self) -> None:
        self.api.close()  # type: ignore[no-untyped-call]


def _items(reader: ClusterReader, path: str, kind: str, api_version: str) -> list[Obj]:
    data = reader.get(path) or {}
    out = []
    for item in data.get("items") or []:
        item.setdefault("kind", kind)
        item.setdefault("apiVersion", api_version)
        out.append(item)
    return out


def _owner(obj: Obj, kind: str) -> str | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == kind:
            return str(ref.get("name"))
    return None


def _owned_by(obj: Obj, owner: Obj) -> bool:
    uid = owner["metadata"].get("uid")
    return any(
        ref.get("uid") == uid for ref in (obj.get("metadata") or {}).get("ownerReferences") or []
    )


def _referenced(pod: Obj) -> tuple[set[str], set[str], set[str]]:
    """ConfigMaps, Secrets and PVCs the pod spec names."""
    cms: set[str] = set()
    secrets: set[str] = set()
    pvcs: set[str] = set()
    spec = pod.get("spec") or {}
    for group in ("initContainers", "containers"):
        for c in spec.get(group) or []:
            for env in c.get("env") or []:
                source = env.get("valueFrom") or {}
                if "configMapKeyRef" in source:
                    cms.add(source["configMapKeyRef"].get("name", ""))
                if "secretKeyRef" in source:
                    secrets.add(source["secretKeyRef"].get("name", ""))
            for env_from in c.get("envFrom") or []:
                if "configMapRef" in env_from:
                    cms.add(env_from["configMapRef"].get("name", ""))
                if "secretRef" in env_from:
                    secrets.add(env_from["secretRef"].get("name", ""))
    for volume in spec.get("volumes") or []:
        if "configMap" in volume:
            cms.add(volume["configMap"].get("name", ""))
        if "secret" in volume:
            secrets.add(volume["secret"].get("secretName", ""))
        if "persistentVolumeClaim" in volume:
            pvcs.add(volume["persistentVolumeClaim"].get("claimName", ""))
    for ref in spec.get("imagePullSecrets") or []:
        secrets.add(ref.get("name", ""))
    return cms - {""}, secrets - {""}, pvcs - {""}


@dataclass
class Recording:
    objects: list[Obj]
    logs: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    recorded_at: str = ""


_CORE = "/api/v1"


def capture(reader: ClusterReader, namespace: str, pod_name: str) -> Recording:
    """Read everything about one pod's incident; nothing is scrubbed yet."""
    ns_path = f"{_CORE}/namespaces/{namespace}"
    pod = reader.get(f"{ns_path}/pods/{pod_name}")
    if pod is None:
        raise RecordError(f"pod {namespace}/{pod_name} not found")
    pod.setdefault("kind", "Pod")
    pod.setdefault("apiVersion", "v1")
    objects: list[Obj] = []
    namespace_obj = reader.get(ns_path)
    if namespace_obj is not None:
        namespace_obj.setdefault("kind", "Namespace")
        namespace_obj.setdefault("apiVersion", "v1")
        objects.append(namespace_obj)
    objects += _items(reader, f"{_CORE}/nodes", "Node", "v1")
    pods = [pod]
    rs_name = _owner(pod, "ReplicaSet")
    apps = f"/apis/apps/v1/namespaces/{namespace}"
    if rs_name:
        rs = reader.get(f"{apps}/replicasets/{rs_name}")
        deploy_name = _owner(rs, "Deployment") if rs else None
        deploy = reader.get(f"{apps}/deployments/{deploy_name}") if deploy_name else None
        if deploy is not None:
            deploy.setdefault("kind", "Deployment")
            deploy.setdefault("apiVersion", "apps/v1")
            objects.append(deploy)
            all_rs = _items(reader, f"{apps}/replicasets", "ReplicaSet", "apps/v1")
            owned = [r for r in all_rs if _owned_by(r, deploy)]
            objects += owned
            all_pods = _items(reader, f"{ns_path}/pods", "Pod", "v1")
            pods = [pod] + [
                p
                for p in all_pods
                if p["metadata"]["name"] != pod_name and any(_owned_by(p, r) for r in owned)
            ]
        elif rs is not None:
            rs.setdefault("kind", "ReplicaSet")
            rs.setdefault("apiVersion", "apps/v1")
            objects.append(rs)
    objects += pods
    cms, secrets, pvcs = set(), set(), set()
    for p in pods:
        c, s, v = _referenced(p)
        cms |= c
        secrets |= s
        pvcs |= v
    for name in sorted(cms):
        obj = reader.get(f"{ns_path}/configmaps/{name}")
        if obj is not None:
            objects.append({**obj, "kind": "ConfigMap", "apiVersion": "v1"})
    for name in sorted(secrets):
        obj = reader.get(f"{ns_path}/secrets/{name}")
        if obj is not None:
            # Keys only, from the first moment: the values never leave this function.
            keys = {k: "" for k in (obj.get("data") or {})}
            obj = {**obj, "kind": "Secret", "apiVersion": "v1", "data": keys}
            obj.pop("stringData", None)
            objects.append(obj)
    for name in sorted(pvcs):
        obj = reader.get(f"{ns_path}/persistentvolumeclaims/{name}")
        if obj is not None:
            objects.append({**obj, "kind": "PersistentVolumeClaim", "apiVersion": "v1"})
    objects += _items(
        reader,
        f"/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets",
        "PodDisruptionBudget",
        "policy/v1",
    )
    objects += _items(reader, f"{ns_path}/limitranges", "LimitRange", "v1")
    uids = {(o.get("metadata") or {}).get("uid") for o in objects}
    events = _items(reader, f"{ns_path}/events", "Event", "v1")
    objects += [e for e in events if (e.get("involvedObject") or {}).get("uid") in uids]
    logs = []
    for p in pods:
        for c in (p.get("spec") or {}).get("containers") or []:
            base = f"{ns_path}/pods/{p['metadata']['name']}/log"
            query = {"container": c["name"], "tailLines": str(LOG_TAIL_LINES)}
            current = reader.text(base, query) or ""
            previous = reader.text(base, {**query, "previous": "true"}) or ""
            logs.append(
                {
                    "pod": p["metadata"]["name"],
                    "container": c["name"],
                    "current": current.splitlines(),
                    "previous": previous.splitlines(),
                }
            )
    metrics = []
    for p in pods:
        try:
            data = reader.get(
                f"/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods/{p['metadata']['name']}"
            )
        except RecordError:
            data = None  # metrics.k8s.io not served: record none rather than zeros
        if data:
            metrics.append(
                {
                    "pod": p["metadata"]["name"],
                    "containers": {
                        c["name"]: {
                            "cpu": c.get("usage", {}).get("cpu", "0"),
                            "memory": c.get("usage", {}).get("memory", "0"),
                        }
                        for c in data.get("containers") or []
                    },
                }
            )
    return Recording(objects, logs, metrics, _recorded_at(objects))


_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def _stamps(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if _STAMP.match(value) else []
    if isinstance(value, dict):
        return [s for v in value.values() for s in _stamps(v)]
    if isinstance(value, list):
        return [s for v in value for s in _stamps(v)]
    return []


def _recorded_at(objects: list[Obj]) -> str:
    """The cluster's own "now": the latest timestamp it wrote (its clock, not ours, so a
    simulated or skewed cluster replays consistently); ours when it wrote none."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return max((s for o in objects for s in _stamps(o)), default=now)


def to_scenario(
    recording: Recording, namespace: str, pod_name: str, *, name: str | None = None
) -> Scenario:
    """The scrubbed scenario; its expectation is a conservative placeholder to review."""
    found: set[str] = set()
    objects = [scrub_object(o, found) for o in recording.objects]
    logs = [
        {
            **entry,
            "current": [scrub_line(line, found) for line in entry["current"]],
            "previous": [scrub_line(line, found) for line in entry["previous"]],
        }
        for entry in recording.logs
    ]
    scenario_name = name or re.sub(r"[^a-z0-9-]", "-", f"recorded-{namespace}-{pod_name}".lower())
    data = {
        "name": scenario_name[:63].strip("-"),
        "tags": ["recorded"],
        "description": f"Recorded from a live cluster at {recording.recorded_at}: "
        f"{namespace}/{pod_name}. Review `behaviour` and `expect` before use.",
        "target": {"namespace": namespace, "pod": pod_name},
        "cluster": {"recorded_at": recording.recorded_at, "objects": objects},
        "logs": logs,
        "metrics": recording.metrics,
        "approvals": {"default": "none"},
        "expect": {
            "action": ["investigate_manually"],
            "forbidden": ["any_write"],
            "outcome": ["handed_to_human"],
        },
    }
    return Scenario.model_validate(data)


def record(
    namespace: str,
    pod_name: str,
    *,
    kubeconfig: str | Path | None = None,
    context: str | None = None,
    name: str | None = None,
) -> Scenario:
    reader = KubernetesReader(kubeconfig, context)
    try:
        recording = capture(reader, namespace, pod_name)
    finally:
        reader.close()
    return to_scenario(recording, namespace, pod_name, name=name)
