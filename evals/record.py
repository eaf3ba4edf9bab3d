"""Capture a live incident into the scenario format, safe to share.

What is captured, for one pod: the pod, its owner chain (ReplicaSet, Deployment) and the
Deployment's other ReplicaSets and pods, the nodes, the events about any of those, the
namespace's PodDisruptionBudgets and LimitRanges, the ConfigMaps / Secrets / PVCs the pod
refers to (that exist), the logs of every container (current and previous), and pod metrics
when metrics.k8s.io answers. Objects are kept as the API server returned them (raw JSON).

What the credentials may not read is skipped with a note (`Scenario.notes`: kind, name, HTTP
status, reason) — the shipped ServiceAccount may not read Secrets, ConfigMaps, PVCs or
namespaces, and gets ReplicaSets only by listing them. Only the pod itself is required. A log
that cannot be read is recorded as that failure (`current_error` / `previous_error`), not as an
empty log.

What is scrubbed before anything is written, with the product's one redaction table
(`kubemedic_redact`): Secret values (keys kept); ConfigMap values under secret-looking keys, and
every other ConfigMap value scanned; environment values of secret-looking variables, and every
other value scanned; annotation values under secret-looking keys, `last-applied-configuration`
(it may embed a Secret) and managedFields; command and arguments (`--api-key x` too); every
other string in every object (event messages, termination messages); and the logs, as one text
per container so a private key printed over many lines goes whole, plus every masked value that
also appears verbatim in a log line.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar

from evals.format import Scenario
from kubemedic_redact import MASK, is_secret_key, redact_argv, redact_lines, redact_text

Obj = dict[str, Any]
SCRUBBED = "[scrubbed]"
_DROP_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)
LOG_TAIL_LINES = 300


class RecordError(RuntimeError):
    """The incident could not be captured (no such pod, the pod not readable, no API)."""


class ReadError(RecordError):
    """One read the API server answered with an error (or did not answer)."""

    def __init__(self, path: str, status: int | None, reason: str, message: str) -> None:
        self.path, self.status, self.reason, self.message = path, status, reason, message
        shown = f"HTTP {status} {reason}".strip() if status is not None else reason
        super().__init__(f"GET {path}: {shown}: {message}")

    def failure(self) -> dict[str, Any]:
        """The `ReadFailure` / note fields, message redacted."""
        return {"status": self.status, "reason": self.reason, "message": redact_text(self.message)}


def _status_error(path: str, status: int, body: str) -> ReadError:
    """A ReadError from a Kubernetes `Status` body (or a plain-text one)."""
    reason, message = "", body.strip()[:500]
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        reason = str(doc.get("reason") or "")
        message = str(doc.get("message") or message)[:500]
    return ReadError(path, status, reason, message)


# -- scrubbing (pure) ----------------------------------------------------------------------


_KEEP_VERBATIM = frozenset({"image", "imageID", "containerID", "uid", "resourceVersion"})


def _remember(value: Any, found: set[str]) -> None:
    text = str(value)
    if len(text) >= 4:
        found.add(text)


def _scrub_env(env: Obj, found: set[str]) -> None:
    if "value" not in env:
        return
    if is_secret_key(str(env.get("name", ""))):
        _remember(env["value"], found)
        env["value"] = SCRUBBED
    else:
        env["value"] = redact_text(str(env["value"]))


def _scrub_container(container: Obj, found: set[str]) -> None:
    for env in container.get("env") or []:
        _scrub_env(env, found)
    for key in ("command", "args"):
        if key in container:
            container[key] = redact_argv(container[key] or [])


def _scrub_meta(meta: Obj, found: set[str]) -> None:
    meta.pop("managedFields", None)
    annotations = meta.get("annotations")
    if not isinstance(annotations, dict):
        return
    for name in _DROP_ANNOTATIONS:
        annotations.pop(name, None)
    for key, value in list(annotations.items()):
        if is_secret_key(str(key).rsplit("/", 1)[-1]) and value:
            _remember(value, found)
            annotations[key] = SCRUBBED


def _pod_specs(obj: Obj) -> list[tuple[Obj, Obj]]:
    """(metadata, spec) of the pod, or of the pod template of a workload."""
    kind = obj.get("kind")
    if kind == "Pod":
        return [(obj.get("metadata") or {}, obj.get("spec") or {})]
    if kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job"):
        template = (obj.get("spec") or {}).get("template") or {}
        return [(template.get("metadata") or {}, template.get("spec") or {})]
    if kind == "CronJob":
        job = ((obj.get("spec") or {}).get("jobTemplate") or {}).get("spec") or {}
        template = job.get("template") or {}
        return [(template.get("metadata") or {}, template.get("spec") or {})]
    return []


def _scan(value: Any, found: set[str]) -> Any:
    """Every string scanned by the value patterns; scalars under secret-looking keys masked."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            scalar = isinstance(item, str | int | float) and not isinstance(item, bool)
            if key in _KEEP_VERBATIM:
                out[key] = item
            elif scalar and item != "" and item != SCRUBBED and is_secret_key(str(key)):
                _remember(item, found)
                out[key] = SCRUBBED
            else:
                out[key] = _scan(item, found)
        return out
    if isinstance(value, list):
        return [_scan(item, found) for item in value]
    return value


def scrub_object(obj: Obj, found: set[str] | None = None) -> Obj:
    """A copy of `obj` without secret material; values masked by name are added to `found`."""
    found = found if found is not None else set()
    out = copy.deepcopy(obj)
    _scrub_meta(out.get("metadata") or {}, found)
    for meta, spec in _pod_specs(out):
        _scrub_meta(meta, found)
        for group in ("initContainers", "containers", "ephemeralContainers"):
            for container in spec.get(group) or []:
                _scrub_container(container, found)
    kind = out.get("kind")
    if kind == "Secret":
        for key in ("data", "stringData"):
            if key in out:
                out[key] = {k: "" for k in out[key] or {}}
    elif kind == "ConfigMap":
        data = out.get("data") or {}
        for key, value in list(data.items()):
            if is_secret_key(str(key)) and value:
                _remember(value, found)
                data[key] = SCRUBBED
            else:
                data[key] = redact_text(str(value))
        if "binaryData" in out:
            out["binaryData"] = {k: SCRUBBED for k in out["binaryData"] or {}}
    scanned: Obj = _scan(out, found)
    return scanned


def scrub_line(line: str, known: set[str]) -> str:
    """A log line with credentials and known secret values masked."""
    return redact_text(_mask_known(line, known))


def _mask_known(line: str, known: set[str]) -> str:
    for value in sorted(known, key=len, reverse=True):
        if value in line:
            line = line.replace(value, MASK)
    return line


def scrub_lines(lines: list[str], known: set[str]) -> list[str]:
    """A container's log, redacted as one text (multi-line secrets go whole)."""
    return redact_lines(_mask_known(line, known) for line in lines)


# -- capture -------------------------------------------------------------------------------


class ClusterReader(Protocol):
    """What recording needs from a cluster (the kubernetes client, or a fake in unit tests)."""

    def get(self, path: str, query: dict[str, str] | None = None) -> Any: ...

    def text(self, path: str, query: dict[str, str] | None = None) -> str:
        """The body of a 200 answer; raises ReadError for any other."""
        ...


class KubernetesReader:
    """Raw GETs through the official client: objects exactly as the API server returned them."""

    def __init__(self, kubeconfig: str | Path | None = None, context: str | None = None) -> None:
        # The server's loading rules: KUBECONFIG / ~/.kube/config / in-cluster, and a
        # kubeconfig that impersonates someone refused rather than silently ignored.
        from mcp_server.gateway import load_api_client

        try:
            self.api = load_api_client(kubeconfig, context)
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
            response.read()
        except Exception as exc:  # noqa: BLE001 - network and TLS errors
            raise ReadError(path, None, "Unreachable", str(exc)) from exc
        data = response.data or b""
        return int(response.status), data.decode("utf-8", "replace")

    def get(self, path: str, query: dict[str, str] | None = None) -> Any:
        status, body = self._call(path, query)
        if status == 404:
            return None
        if status != 200:
            raise _status_error(path, status, body)
        return json.loads(body)

    def text(self, path: str, query: dict[str, str] | None = None) -> str:
        status, body = self._call(path, query)
        if status != 200:
            raise _status_error(path, status, body)
        return body

    def close(self) -> None:
        self.api.close()


def _items(reader: ClusterReader, path: str, kind: str, api_version: str) -> list[Obj]:
    data = reader.get(path) or {}
    out = []
    for item in data.get("items") or []:
        item.setdefault("kind", kind)
        item.setdefault("apiVersion", api_version)
        out.append(item)
    return out


T = TypeVar("T")


class _Notes:
    """What could not be read, one note per object (or per list)."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.items: list[dict[str, Any]] = []

    def read(
        self,
        kind: str,
        name: str | None,
        read: Callable[[], T],
        *,
        namespaced: bool = True,
    ) -> T | None:
        """`read()`, or None with a note when the API server refuses or fails it."""
        try:
            return read()
        except ReadError as exc:
            self.add(kind, name, exc, namespaced=namespaced)
            return None

    def add(self, kind: str, name: str | None, exc: ReadError, *, namespaced: bool = True) -> None:
        note: dict[str, Any] = {"kind": kind, **exc.failure()}
        if name is not None:
            note["name"] = name
        if namespaced:
            note["namespace"] = self.namespace
        self.items.append(note)


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
    notes: list[dict[str, Any]] = field(default_factory=list)


_CORE = "/api/v1"


def _typed(obj: Obj | None, kind: str, api_version: str) -> Obj | None:
    if obj is not None:
        obj.setdefault("kind", kind)
        obj.setdefault("apiVersion", api_version)
    return obj


def _read_pod(reader: ClusterReader, ns_path: str, namespace: str, pod_name: str) -> Obj:
    try:
        pod = reader.get(f"{ns_path}/pods/{pod_name}")
    except ReadError as exc:
        hint = (
            " (the credentials need get on pods in that namespace)"
            if exc.status in (401, 403)
            else ""
        )
        raise RecordError(f"cannot read pod {namespace}/{pod_name}: {exc}{hint}") from exc
    if pod is None:
        raise RecordError(f"pod {namespace}/{pod_name} not found")
    return _typed(pod, "Pod", "v1") or pod


def _replicaset(reader: ClusterReader, apps: str, name: str, notes: _Notes) -> Obj | None:
    """Get the ReplicaSet; a user who may only list them (the shipped RBAC) finds it there."""
    try:
        return _typed(reader.get(f"{apps}/replicasets/{name}"), "ReplicaSet", "apps/v1")
    except ReadError as exc:
        if exc.status != 403:
            notes.add("ReplicaSet", name, exc)
            return None
    listed = notes.read(
        "ReplicaSet", name, lambda: _items(reader, f"{apps}/replicasets", "ReplicaSet", "apps/v1")
    )
    return next((r for r in listed or [] if r["metadata"].get("name") == name), None)


def _log(reader: ClusterReader, path: str, query: dict[str, str]) -> tuple[list[str], Any]:
    """(lines, None) or ([], failure): a log that cannot be read is not an empty log."""
    try:
        return reader.text(path, query).splitlines(), None
    except ReadError as exc:
        return [], exc.failure()


def capture(reader: ClusterReader, namespace: str, pod_name: str) -> Recording:
    """Read everything about one pod's incident; nothing is scrubbed yet.

    Only the pod is required: every other read the API server refuses or fails is skipped
    with a note."""
    ns_path = f"{_CORE}/namespaces/{namespace}"
    pod = _read_pod(reader, ns_path, namespace, pod_name)
    notes = _Notes(namespace)
    objects: list[Obj] = []
    namespace_obj = notes.read(
        "Namespace", namespace, lambda: reader.get(ns_path), namespaced=False
    )
    if namespace_obj is not None:
        objects.append(_typed(namespace_obj, "Namespace", "v1") or namespace_obj)
    objects += (
        notes.read("Node", None, lambda: _items(reader, f"{_CORE}/nodes", "Node", "v1"),
                   namespaced=False) or []
    )  # fmt: skip
    pods = [pod]
    rs_name = _owner(pod, "ReplicaSet")
    apps = f"/apis/apps/v1/namespaces/{namespace}"
    if rs_name:
        rs = _replicaset(reader, apps, rs_name, notes)
        deploy_name = _owner(rs, "Deployment") if rs else None
        deploy = None
        if deploy_name:
            deploy = notes.read(
                "Deployment", deploy_name, lambda: reader.get(f"{apps}/deployments/{deploy_name}")
            )
        if deploy is not None:
            objects.append(_typed(deploy, "Deployment", "apps/v1") or deploy)
            all_rs = notes.read(
                "ReplicaSet",
                None,
                lambda: _items(reader, f"{apps}/replicasets", "ReplicaSet", "apps/v1"),
            )
            owned = [r for r in all_rs or ([rs] if rs else []) if _owned_by(r, deploy)]
            objects += owned
            all_pods = notes.read(
                "Pod", None, lambda: _items(reader, f"{ns_path}/pods", "Pod", "v1")
            )
            pods = [pod] + [
                p
                for p in all_pods or []
                if p["metadata"]["name"] != pod_name and any(_owned_by(p, r) for r in owned)
            ]
        elif rs is not None:
            objects.append(rs)
    objects += pods
    cms, secrets, pvcs = set(), set(), set()
    for p in pods:
        c, s, v = _referenced(p)
        cms |= c
        secrets |= s
        pvcs |= v
    for name in sorted(cms):
        obj = notes.read("ConfigMap", name, partial(reader.get, f"{ns_path}/configmaps/{name}"))
        if obj is not None:
            objects.append({**obj, "kind": "ConfigMap", "apiVersion": "v1"})
    for name in sorted(secrets):
        obj = notes.read("Secret", name, partial(reader.get, f"{ns_path}/secrets/{name}"))
        if obj is not None:
            # Keys only, from the first moment: the values never leave this function.
            keys = {k: "" for k in (obj.get("data") or {})}
            obj = {**obj, "kind": "Secret", "apiVersion": "v1", "data": keys}
            obj.pop("stringData", None)
            objects.append(obj)
    for name in sorted(pvcs):
        obj = notes.read(
            "PersistentVolumeClaim",
            name,
            partial(reader.get, f"{ns_path}/persistentvolumeclaims/{name}"),
        )
        if obj is not None:
            objects.append({**obj, "kind": "PersistentVolumeClaim", "apiVersion": "v1"})
    pdb_path = f"/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets"
    objects += (
        notes.read(
            "PodDisruptionBudget",
            None,
            lambda: _items(reader, pdb_path, "PodDisruptionBudget", "policy/v1"),
        )
        or []
    )
    objects += (
        notes.read(
            "LimitRange", None, lambda: _items(reader, f"{ns_path}/limitranges", "LimitRange", "v1")
        )
        or []
    )
    uids = {(o.get("metadata") or {}).get("uid") for o in objects}
    events = notes.read("Event", None, lambda: _items(reader, f"{ns_path}/events", "Event", "v1"))
    objects += [e for e in events or [] if (e.get("involvedObject") or {}).get("uid") in uids]
    logs = []
    for p in pods:
        for c in (p.get("spec") or {}).get("containers") or []:
            base = f"{ns_path}/pods/{p['metadata']['name']}/log"
            query = {"container": c["name"], "tailLines": str(LOG_TAIL_LINES)}
            current, current_error = _log(reader, base, query)
            previous, previous_error = _log(reader, base, {**query, "previous": "true"})
            entry: dict[str, Any] = {
                "pod": p["metadata"]["name"],
                "container": c["name"],
                "current": current,
                "previous": previous,
            }
            if current_error:
                entry["current_error"] = current_error
            if previous_error:
                entry["previous_error"] = previous_error
            logs.append(entry)
    metrics = []
    for p in pods:
        pname = p["metadata"]["name"]
        path = f"/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods/{pname}"
        # 404 (metrics.k8s.io not served): none rather than zeros; refused: a note.
        data = notes.read("PodMetrics", pname, partial(reader.get, path))
        if data:
            metrics.append(
                {
                    "pod": pname,
                    "containers": {
                        c["name"]: {
                            "cpu": c.get("usage", {}).get("cpu", "0"),
                            "memory": c.get("usage", {}).get("memory", "0"),
                        }
                        for c in data.get("containers") or []
                    },
                }
            )
    return Recording(objects, logs, metrics, _recorded_at(objects), notes.items)


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
            "current": scrub_lines(entry["current"], found),
            "previous": scrub_lines(entry["previous"], found),
        }
        for entry in recording.logs
    ]
    notes = [{**note, "message": redact_text(str(note.get("message", "")))} for note in
             recording.notes]  # fmt: skip
    scenario_name = name or re.sub(r"[^a-z0-9-]", "-", f"recorded-{namespace}-{pod_name}".lower())
    data = {
        "name": scenario_name[:63].strip("-"),
        "tags": ["recorded"],
        "description": f"Recorded from a live cluster at {recording.recorded_at}: "
        f"{namespace}/{pod_name}. Review `behaviour` and `expect` before use."
        + (f" {len(notes)} read(s) were refused or failed: see `notes`." if notes else ""),
        "notes": notes,
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
