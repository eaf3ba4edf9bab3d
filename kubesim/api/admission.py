"""What the registries do to an object between validation and storage that needs the store or a
uid: a Job's generated selector, a Service's ClusterIP and NodePorts."""

from __future__ import annotations

import uuid
from typing import Any

from kubesim.api import batch, services
from kubesim.store import ResourceType, Store

Obj = dict[str, Any]


def admit(store: Store, rtype: ResourceType, obj: Obj, current: Obj | None) -> bool:
    """Prepare `obj` for a create (`current` None) or an update of `current`.

    Returns True when the object now carries its own uid (a create must keep it).
    """
    if rtype.kind == "Service":
        services.admit_service(store, obj, current)
        return False
    if rtype.kind == "Job":
        spec = obj.get("spec")
        if current is not None:
            old = current.get("spec") or {}
            if isinstance(spec, dict) and not spec.get("selector") and old.get("selector"):
                spec["selector"] = old["selector"]
            return False
        meta = obj.setdefault("metadata", {})
        meta["uid"] = str(uuid.uuid4())
        batch.finish_job(obj)
        return True
    return False
