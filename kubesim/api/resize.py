"""The `pods/resize` subresource (1.33+): what it takes from a request and what it refuses.

As the API server's resize strategy does: from the patched or sent pod only
`spec.containers[*].resources` and `resizePolicy` are kept (every other change is dropped, not
refused); then ValidatePodResize refuses what cannot change in place (422 Invalid):
reordered or renamed containers, resources other than cpu and memory, removed requests or
limits, a QoS class change, and (before 1.34) a memory limit decrease under `NotRequired`.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from kubesim.api import errors
from kubesim.api.defaults import qos_class
from kubesim.version import KubeVersion

Obj = dict[str, Any]
Cause = tuple[str, str, str]
MUTABLE = ("cpu", "memory")


def _quantity(value: Any) -> float | None:
    units = {
        "": 1.0,
        "m": 1e-3,
        "k": 1e3,
        "M": 1e6,
        "G": 1e9,
        "T": 1e12,
        "Ki": 2.0**10,
        "Mi": 2.0**20,
        "Gi": 2.0**30,
        "Ti": 2.0**40,
    }
    match = re.fullmatch(r"\s*([0-9.]+(?:[eE][+-]?[0-9]+)?)\s*([a-zA-Z]*)\s*", str(value))
    if not match or match.group(2) not in units:
        return None
    return float(match.group(1)) * units[match.group(2)]


def merge(current: Obj, sent: Obj) -> Obj:
    """The pod as the resize strategy makes it: `current` with only the containers'
    resources and resize policies of `sent`. Containers added, removed, renamed or reordered
    are left as sent, for validation to refuse."""
    new_containers = ((sent.get("spec") or {}).get("containers")) or []
    old_containers = (current.get("spec") or {}).get("containers") or []
    pod = copy.deepcopy(current)
    if not isinstance(new_containers, list) or len(new_containers) != len(old_containers):
        pod["spec"]["containers"] = copy.deepcopy(new_containers)
        return pod
    for i, new in enumerate(new_containers):
        if not isinstance(new, dict) or new.get("name") != old_containers[i].get("name"):
            pod["spec"]["containers"] = copy.deepcopy(new_containers)
            return pod
    for i, new in enumerate(new_containers):
        target = pod["spec"]["containers"][i]
        target["resources"] = copy.deepcopy(new.get("resources") or {})
        if new.get("resizePolicy") is not None:
            target["resizePolicy"] = copy.deepcopy(new["resizePolicy"])
        else:
            target.pop("resizePolicy", None)
    return pod


def _restart_policy(container: Obj, resource: str) -> str:
    for entry in container.get("resizePolicy") or []:
        if isinstance(entry, dict) and entry.get("resourceName") == resource:
            return str(entry.get("restartPolicy") or "NotRequired")
    return "NotRequired"


def validate(current: Obj, new: Obj, kube: KubeVersion) -> None:
    """ValidatePodResize: raise 422 Invalid with the real server's causes."""
    name = current["metadata"]["name"]
    old_containers = (current.get("spec") or {}).get("containers") or []
    new_containers = (new.get("spec") or {}).get("containers") or []
    causes: list[Cause] = []
    if len(new_containers) != len(old_containers) or any(
        not isinstance(n, dict) or n.get("name") != o.get("name")
        for n, o in zip(new_containers, old_containers, strict=False)
    ):
        for i, n in enumerate(new_containers):
            old_name = old_containers[i].get("name") if i < len(old_containers) else None
            if not isinstance(n, dict) or n.get("name") != old_name:
                causes.append(
                    (
                        "FieldValueForbidden",
                        f"spec.containers[{i}].name",
                        "Forbidden: containers may not be renamed or reordered on resize",
                    )
                )
        if len(new_containers) != len(old_containers):
            causes.append(
                (
                    "FieldValueForbidden",
                    "spec.containers",
                    "Forbidden: containers may not be added or removed on resize",
                )
            )
        raise errors.invalid("Pod", "", name, causes)
    old_qos = str((current.get("status") or {}).get("qosClass") or qos_class(current["spec"]))
    if qos_class(new["spec"]) != old_qos:
        causes.append(
            (
                "FieldValueInvalid",
                "spec",
                f'Invalid value: "{old_qos}": Pod QOS Class may not change as a result of resizing',
            )
        )
    other_changed = False
    for i, (n, o) in enumerate(zip(new_containers, old_containers, strict=True)):
        where = f"spec.containers[{i}].resources"
        new_res, old_res = n.get("resources") or {}, o.get("resources") or {}
        for section, label in (("requests", "requests"), ("limits", "limits")):
            new_list = new_res.get(section) or {}
            old_list = old_res.get(section) or {}
            if any(key not in new_list for key in old_list):
                causes.append(
                    (
                        "FieldValueForbidden",
                        f"{where}.{section}",
                        f"Forbidden: resource {label} cannot be removed",
                    )
                )
            for key in set(new_list) | set(old_list):
                if key not in MUTABLE and new_list.get(key) != old_list.get(key):
                    other_changed = True
        if set(new_res) - {"requests", "limits"} != set(old_res) - {"requests", "limits"} or any(
            new_res.get(k) != old_res.get(k) for k in set(new_res) - {"requests", "limits"}
        ):
            other_changed = True
        limits, requests = new_res.get("limits") or {}, new_res.get("requests") or {}
        for key in MUTABLE:
            if key in limits and key in requests:
                lim, req = _quantity(limits[key]), _quantity(requests[key])
                if lim is not None and req is not None and req > lim:
                    causes.append(
                        (
                            "FieldValueInvalid",
                            f"{where}.requests",
                            f'Invalid value: "{requests[key]}": must be less than or equal to '
                            f"{key} limit of {limits[key]}",
                        )
                    )
        old_limit = _quantity((old_res.get("limits") or {}).get("memory", ""))
        new_limit = _quantity(limits.get("memory", ""))
        if (
            not kube.memory_limit_decrease
            and old_limit is not None
            and new_limit is not None
            and new_limit < old_limit
            and _restart_policy(n, "memory") != "RestartContainer"
        ):
            causes.append(
                (
                    "FieldValueForbidden",
                    f"{where}.limits[memory]",
                    "Forbidden: memory limits cannot be decreased unless resizePolicy is "
                    "RestartContainer",
                )
            )
    if other_changed:
        causes.append(
            ("FieldValueForbidden", "spec", "Forbidden: only cpu and memory resources are mutable")
        )
    if causes:
        raise errors.invalid("Pod", "", name, causes)
