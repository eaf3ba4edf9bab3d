"""The obvious validation a real API server does (422 Invalid with causes)."""

from __future__ import annotations

import re
from typing import Any

from kubesim.api import leases
from kubesim.api.errors import ApiError, invalid
from kubesim.api.openapi import definition_for, definitions
from kubesim.api.selectors import label_selector_from_dict, matches_labels
from kubesim.store import ResourceType
from kubesim.version import DEFAULT, KubeVersion

Obj = dict[str, Any]
Cause = tuple[str, str, str]  # (reason, field, message)

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "  # noqa: E501
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "  # noqa: E501
    "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
# Kinds whose names must be DNS labels rather than subdomains.
_LABEL_NAMED = {"Namespace"}


def _name_causes(kind: str, meta: Obj) -> list[Cause]:
    name = meta.get("name")
    if not name:
        if meta.get("generateName"):
            return []
        return [
            (
                "FieldValueRequired",
                "metadata.name",
                "Required value: name or generateName is required",
            )
        ]
    if kind in _LABEL_NAMED:
        if not _LABEL.match(name) or len(name) > 63:
            return [("FieldValueInvalid", "metadata.name", f'Invalid value: "{name}": {LABEL_MSG}')]
    elif not _SUBDOMAIN.match(name) or len(name) > 253:
        return [("FieldValueInvalid", "metadata.name", f'Invalid value: "{name}": {SUBDOMAIN_MSG}')]
    return []


def _resize_policy_causes(c: Obj, where: str, pod_restart: str) -> list[Cause]:
    """validateResizePolicy: cpu / memory once each, NotRequired or RestartContainer, and
    only NotRequired in a pod that never restarts."""
    policy = c.get("resizePolicy")
    if policy is None:
        return []
    if not isinstance(policy, list):
        return [("FieldValueInvalid", f"{where}.resizePolicy", "Invalid value: must be a list")]
    causes: list[Cause] = []
    seen: set[str] = set()
    for j, entry in enumerate(policy):
        at = f"{where}.resizePolicy[{j}]"
        entry = entry if isinstance(entry, dict) else {}
        name = entry.get("resourceName")
        restart = entry.get("restartPolicy")
        if not name:
            causes.append(("FieldValueRequired", f"{at}.resourceName", "Required value"))
        elif name not in ("cpu", "memory"):
            causes.append(
                (
                    "FieldValueNotSupported",
                    f"{at}.resourceName",
                    f'Unsupported value: "{name}": supported values: "cpu", "memory"',
                )
            )
        elif name in seen:
            duplicate = f'Duplicate value: "{name}"'
            causes.append(("FieldValueDuplicate", f"{at}.resourceName", duplicate))
        else:
            seen.add(name)
        if not restart:
            causes.append(("FieldValueRequired", f"{at}.restartPolicy", "Required value"))
        elif restart not in ("NotRequired", "RestartContainer"):
            causes.append(
                (
                    "FieldValueNotSupported",
                    f"{at}.restartPolicy",
                    f'Unsupported value: "{restart}": supported values: "NotRequired", '
                    '"RestartContainer"',
                )
            )
        elif restart == "RestartContainer" and pod_restart == "Never":
            causes.append(
                (
                    "FieldValueInvalid",
                    f"{at}.restartPolicy",
                    f"Invalid value: \"{restart}\": must be 'NotRequired' when `restartPolicy` "
                    "is 'Never'",
                )
            )
    return causes


def _pod_spec_causes(spec: Any, path: str, kube: KubeVersion = DEFAULT) -> list[Cause]:
    if not isinstance(spec, dict):
        return [("FieldValueRequired", path, "Required value")]
    containers = spec.get("containers")
    if not containers:
        return [("FieldValueRequired", f"{path}.containers", "Required value")]
    causes: list[Cause] = []
    seen: set[str] = set()
    for i, c in enumerate(containers):
        where = f"{path}.containers[{i}]"
        name = c.get("name") if isinstance(c, dict) else None
        if not name:
            causes.append(("FieldValueRequired", f"{where}.name", "Required value"))
        elif not _LABEL.match(name):
            causes.append(
                ("FieldValueInvalid", f"{where}.name", f'Invalid value: "{name}": {LABEL_MSG}')
            )
        elif name in seen:
            causes.append(("FieldValueDuplicate", f"{where}.name", f'Duplicate value: "{name}"'))
        else:
            seen.add(name)
        if isinstance(c, dict) and not c.get("image"):
            causes.append(("FieldValueRequired", f"{where}.image", "Required value"))
        if isinstance(c, dict) and kube.in_place_resize:
            causes += _resize_policy_causes(c, where, str(spec.get("restartPolicy") or "Always"))
    return causes


def validate(rtype: ResourceType, obj: Obj, kube: KubeVersion = DEFAULT) -> None:
    """Raise 422 Invalid for the mistakes a real server would reject."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = {}
    causes = _name_causes(rtype.kind, meta)
    spec = obj.get("spec")
    if rtype.kind == "Pod":
        causes += _pod_spec_causes(spec, "spec", kube)
    elif rtype.kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet") and isinstance(
        spec, dict
    ):
        selector = spec.get("selector")
        template = spec.get("template") or {}
        if not selector:
            causes.append(("FieldValueRequired", "spec.selector", "Required value"))
        else:
            labels = (template.get("metadata") or {}).get("labels") or {}
            if not matches_labels(
                label_selector_from_dict(selector), {"metadata": {"labels": labels}}
            ):
                causes.append(
                    (
                        "FieldValueInvalid",
                        "spec.template.metadata.labels",
                        f"Invalid value: {_go_map(labels)}: `selector` does not match template `labels`",  # noqa: E501
                    )
                )
        causes += _pod_spec_causes(template.get("spec"), "spec.template.spec", kube)
        replicas = spec.get("replicas")
        if isinstance(replicas, int) and replicas < 0:
            causes.append(
                (
                    "FieldValueInvalid",
                    "spec.replicas",
                    f"Invalid value: {replicas}: must be greater than or equal to 0",
                )
            )
    elif rtype.kind == "Event":
        causes += _event_causes(obj, str(meta.get("namespace") or ""))
    elif rtype.kind == "Lease":
        causes += leases.causes(obj)
    elif rtype.kind in ("Job", "CronJob", "Service", "EndpointSlice"):
        causes += _network_batch_causes(rtype.kind, obj, kube)
    if causes:
        raise invalid(
            rtype.kind, rtype.group, str(meta.get("name") or meta.get("generateName") or ""), causes
        )


def _network_batch_causes(kind: str, obj: Obj, kube: KubeVersion) -> list[Cause]:
    from kubesim.api import batch, services  # noqa: PLC0415 - they import nothing of this module

    if kind == "Job":
        template = ((obj.get("spec") or {}).get("template") or {}).get("spec")
        return batch.job_causes(obj) + _pod_spec_causes(template, "spec.template.spec", kube)
    if kind == "CronJob":
        job_spec = ((obj.get("spec") or {}).get("jobTemplate") or {}).get("spec") or {}
        template = (job_spec.get("template") or {}).get("spec")
        return batch.cronjob_causes(obj) + _pod_spec_causes(
            template, "spec.jobTemplate.spec.template.spec", kube
        )
    if kind == "Service":
        return services.service_causes(obj)
    return services.endpointslice_causes(obj)


def _event_causes(event: Obj, namespace: str) -> list[Cause]:
    """core/v1 Event validation (legacyValidateEvent): an event lives in its object's namespace;
    one with an eventTime (events.k8s.io style) also names its reporter, action and reason."""
    involved = event.get("involvedObject")
    involved_ns = str((involved or {}).get("namespace") or "") if isinstance(involved, dict) else ""
    mismatch: Cause = (
        "FieldValueInvalid",
        "involvedObject.namespace",
        f'Invalid value: "{involved_ns}": does not match event.namespace',
    )
    causes: list[Cause] = []
    if not event.get("eventTime"):
        if (involved_ns and involved_ns != namespace) or (
            not involved_ns and namespace not in ("", "default")
        ):
            causes.append(mismatch)
        return causes
    if not involved_ns and namespace not in ("default", "kube-system"):
        causes.append(mismatch)
    for name in ("reportingComponent", "reportingInstance", "action", "reason"):
        if not event.get(name):
            causes.append(("FieldValueRequired", name, "Required value"))
    if len(str(event.get("message") or "").encode()) > 1024:
        causes.append(
            ("FieldValueInvalid", "message", 'Invalid value: "": can have at most 1024 characters')
        )
    return causes


def _go_map(labels: dict[str, str]) -> str:
    inner = ", ".join(f'"{k}":"{v}"' for k, v in sorted(labels.items()))
    return "map[string]string{" + inner + "}"


def check_kind(rtype: ResourceType, obj: Obj) -> None:
    """The body's kind / apiVersion must be the endpoint's (or absent)."""
    kind = obj.get("kind")
    api_version = obj.get("apiVersion")
    if (kind and kind != rtype.kind) or (api_version and api_version != rtype.api_version):
        raise ApiError(
            400,
            "BadRequest",
            f"the API version in the data ({api_version}) does not match the expected API version "
            f"({rtype.api_version})"
            if api_version != rtype.api_version
            else f"Object kind {kind} does not match the endpoint's {rtype.kind}",
        )


def _resolve(schema: Obj | None) -> Obj | None:
    for _ in range(20):
        if schema is None:
            return None
        ref = schema.get("$ref")
        if isinstance(ref, str):
            schema = definitions().get(ref.rsplit("/", 1)[-1])
            continue
        all_of = schema.get("allOf")
        if isinstance(all_of, list) and all_of:
            schema = all_of[0]
            continue
        return schema
    return schema


def _unknown(value: Any, schema: Obj | None, path: str, found: list[str]) -> None:
    schema = _resolve(schema)
    if schema is None or schema.get("x-kubernetes-preserve-unknown-fields"):
        return
    if isinstance(value, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key.startswith("$"):
                continue  # strategic-merge directives
            where = f"{path}.{key}" if path else key
            if isinstance(props, dict) and key in props:
                _unknown(item, props[key], where, found)
            elif isinstance(extra, dict):
                _unknown(item, extra, where, found)
            elif isinstance(props, dict):
                found.append(where)
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                _unknown(item, items, f"{path}[{i}]", found)


def check_strict(rtype: ResourceType, obj: Obj) -> None:
    """fieldValidation=Strict: fields the schema does not declare are a 400, as the server's
    strict decoder reports them."""
    name = definition_for(rtype)
    if name is None:
        return
    found: list[str] = []
    _unknown(obj, definitions().get(name), "", found)
    if found:
        listed = ", ".join(f'unknown field "{f}"' for f in found)
        raise ApiError(
            400,
            "BadRequest",
            f'{rtype.kind} in version "{rtype.version}" cannot be handled as a {rtype.kind}: '
            f"strict decoding error: {listed}",
        )
