"""Table responses (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`), with the columns
and cell values kube-apiserver's printers produce (pkg/printers/internalversion)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from kubesim.api.leases import COLUMNS_HOLDER_DOC
from kubesim.api.selectors import label_selector_from_dict
from kubesim.clock import SimClock
from kubesim.store import ResourceType

Obj = dict[str, Any]
Column = tuple[str, str, str, int, str]  # name, type, format, priority, description

_NAME_DOC = (
    "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name automatically. "
    "Name is primarily intended for creation idempotence and configuration definition. Cannot be "
    "updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
_AGE_DOC = (
    "CreationTimestamp is a timestamp representing the server time when this object was created. It "  # noqa: E501
    "is not guaranteed to be set in happens-before order across separate operations. Clients may not "  # noqa: E501
    "set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. "
    "Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/"
    "api-conventions.md#metadata"
)


def human_duration(seconds: float) -> str:
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rem = s % 60
        return f"{minutes}m" if rem == 0 else f"{minutes}m{rem}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        rem = minutes % 60
        return f"{hours}h" if rem == 0 else f"{hours}h{rem}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rem = hours % 24
        return f"{hours // 24}d" if rem == 0 else f"{hours // 24}d{rem}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def _parse_time(stamp: str | None) -> datetime | None:
    if not stamp:
        return None
    text = stamp.rstrip("Z")
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S"):
        try:
            return datetime.strptime(text[:26], fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


class _Ages:
    def __init__(self, clock: SimClock) -> None:
        self.now = clock.now()

    def since(self, stamp: str | None) -> str:
        moment = _parse_time(stamp)
        if moment is None:
            return "<unknown>"
        return human_duration((self.now - moment).total_seconds())


# -- pods --------------------------------------------------------------------------------
POD_COLUMNS: list[Column] = [
    ("Name", "string", "name", 0, _NAME_DOC),
    ("Ready", "string", "", 0, "The aggregate readiness state of this pod for accepting traffic."),
    ("Status", "string", "", 0, "The aggregate status of the containers in this pod."),
    (
        "Restarts",
        "string",
        "",
        0,
        "The number of times the containers in this pod have been restarted and when the last container "  # noqa: E501
        "in this pod has restarted.",
    ),
    ("Age", "string", "", 0, _AGE_DOC),
    ("IP", "string", "", 1, "The IP address assigned to this pod."),
    ("Node", "string", "", 1, "The node this pod is running on."),
    ("Nominated Node", "string", "", 1, "The node that this pod is nominated to run on, if any."),
    ("Readiness Gates", "string", "", 1, "The readiness gates of this pod, if any."),
]


def pod_status_reason(pod: Obj) -> tuple[str, int, int, str | None]:
    """(STATUS, ready containers, restarts, last restart) as kubectl's printer computes them."""
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or ""
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"
    restarts = 0
    ready = 0
    last_restart: str | None = None

    def note_restart(cs: Obj) -> None:
        nonlocal last_restart
        term = (cs.get("lastState") or {}).get("terminated")
        finished = term.get("finishedAt") if term else None
        if finished and (last_restart is None or finished > last_restart):
            last_restart = finished

    initializing = False
    init_specs = spec.get("initContainers") or []
    for i, cs in enumerate(status.get("initContainerStatuses") or []):
        restarts += int(cs.get("restartCount") or 0)
        note_restart(cs)
        state = cs.get("state") or {}
        term = state.get("terminated")
        waiting = state.get("waiting")
        if term and term.get("exitCode") == 0:
            continue
        if term:
            if not term.get("reason"):
                reason = (
                    f"Init:Signal:{term['signal']}"
                    if term.get("signal")
                    else f"Init:ExitCode:{term.get('exitCode', 0)}"
                )
            else:
                reason = "Init:" + term["reason"]
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break
    initialized = any(
        c.get("type") == "Initialized" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    if not initializing or initialized:
        restarts = 0
        last_restart = None
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            restarts += int(cs.get("restartCount") or 0)
            note_restart(cs)
            state = cs.get("state") or {}
            waiting = state.get("waiting")
            term = state.get("terminated")
            if waiting and waiting.get("reason"):
                reason = waiting["reason"]
            elif term and term.get("reason"):
                reason = term["reason"]
            elif term:
                reason = (
                    f"Signal:{term['signal']}"
                    if term.get("signal")
                    else f"ExitCode:{term.get('exitCode', 0)}"
                )
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            has_ready = any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in status.get("conditions") or []
            )
            reason = "Running" if has_ready else "NotReady"
    if pod.get("metadata", {}).get("deletionTimestamp"):
        reason = "Unknown" if status.get("reason") == "NodeLost" else "Terminating"
    return reason, ready, restarts, last_restart


def _pod_row(pod: Obj, ages: _Ages) -> tuple[list[Any], list[Obj] | None]:
    reason, ready, restarts, last = pod_status_reason(pod)
    total = len((pod.get("spec") or {}).get("containers") or [])
    restarts_text = str(restarts)
    if restarts and last:
        restarts_text = f"{restarts} ({ages.since(last)} ago)"
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    ips = status.get("podIPs") or []
    ip = (ips[0].get("ip") if ips else None) or "<none>"
    gates = spec.get("readinessGates") or []
    gates_text = "<none>"
    if gates:
        true_types = {
            c.get("type") for c in status.get("conditions") or [] if c.get("status") == "True"
        }
        passed = sum(1 for g in gates if g.get("conditionType") in true_types)
        gates_text = f"{passed}/{len(gates)}"
    cells: list[Any] = [
        pod["metadata"]["name"],
        f"{ready}/{total}",
        reason,
        restarts_text,
        ages.since(pod["metadata"].get("creationTimestamp")),
        ip,
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        gates_text,
    ]
    conditions = None
    if reason in ("Completed", "Succeeded"):
        conditions = [{"type": "Completed", "status": "True", "reason": "", "message": ""}]
    elif reason == "Failed" or status.get("phase") == "Failed":
        conditions = [{"type": "Completed", "status": "True", "reason": "", "message": ""}]
    return cells, conditions


# -- workloads ---------------------------------------------------------------------------
def _containers_cells(template_spec: Obj, selector: Obj | None) -> list[str]:
    containers = template_spec.get("containers") or []
    return [
        ",".join(c.get("name", "") for c in containers),
        ",".join(c.get("image", "") for c in containers),
        format_selector(selector),
    ]


def format_selector(selector: Obj | None) -> str:
    """metav1.FormatLabelSelector."""
    if selector is None:
        return "<none>"
    reqs = label_selector_from_dict(selector)
    if not reqs:
        return "<none>" if not selector else ""
    parts = []
    for r in sorted(reqs, key=lambda r: r.key):
        if r.op == "=":
            parts.append(f"{r.key}={r.values[0]}")
        elif r.op == "exists":
            parts.append(r.key)
        elif r.op == "!":
            parts.append(f"!{r.key}")
        else:
            parts.append(f"{r.key} {r.op} ({','.join(sorted(r.values))})")
    return ",".join(parts)


DEPLOYMENT_COLUMNS: list[Column] = [
    ("Name", "string", "name", 0, _NAME_DOC),
    ("Ready", "string", "", 0, "Number of the pod with ready state"),
    (
        "Up-to-date",
        "string",
        "",
        0,
        "Total number of non-terminated pods targeted by this deployment that "
        "have the desired template spec.",
    ),
    (
        "Available",
        "string",
        "",
        0,
        "Total number of available pods (ready for at least minReadySeconds) "
        "targeted by this deployment.",
    ),
    ("Age", "string", "", 0, _AGE_DOC),
    ("Containers", "string", "", 1, "Names of each container in the template."),
    ("Images", "string", "", 1, "Images referenced by each container in the template."),
    (
        "Selector",
        "string",
        "",
        1,
        "Label selector for pods. Existing ReplicaSets whose pods are selected "
        "by this will be the ones affected by this deployment.",
    ),
]


def _deployment_row(obj: Obj, ages: _Ages) -> tuple[list[Any], None]:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    cells: list[Any] = [
        obj["metadata"]["name"],
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
        int(status.get("updatedReplicas", 0)),
        int(status.get("availableReplicas", 0)),
        ages.since(obj["metadata"].get("creationTimestamp")),
        *_containers_cells(((spec.get("template") or {}).get("spec")) or {}, spec.get("selector")),
    ]
    return cells, None


REPLICASET_COLUMNS: list[Column] = [
    ("Name", "string", "name", 0, _NAME_DOC),
    ("Desired", "integer", "", 0, "Replicas is the number of desired replicas."),
    ("Current", "integer", "", 0, "Replicas is the most recently observed number of replicas."),
    ("Ready", "integer", "", 0, "The number of ready replicas for this replica set."),
    ("Age", "string", "", 0, _AGE_DOC),
    ("Containers", "string", "", 1, "Names of each container in the template."),
    ("Images", "string", "", 1, "Images referenced by each container in the template."),
    (
        "Selector",
        "string",
        "",
        1,
        "Selector is a label query over pods that should match the replica count.",
    ),
]


def _replicaset_row(obj: Obj, ages: _Ages) -> tuple[list[Any], None]:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    cells: list[Any] = [
        obj["metadata"]["name"],
        int(spec.get("replicas", 0)),
        int(status.get("replicas", 0)),
        int(status.get("readyReplicas", 0)),
        ages.since(obj["metadata"].get("creationTimestamp")),
        *_containers_cells(((spec.get("template") or {}).get("spec")) or {}, spec.get("selector")),
    ]
    return cells, None


# -- events, nodes, namespaces -----------------------------------------------------------
EVENT_COLUMNS: list[Column] = [
    ("Last Seen", "string", "", 0, "Time when this Event was last seen"),
    (
        "Type",
        "string",
        "",
        0,
        "Type of this event (Normal, Warning), new types could be added in the future.",
    ),
    (
        "Reason",
        "string",
        "",
        0,
        "A short, machine understandable string that gives the reason for the "
        "transition into the object's current status.",
    ),
    ("Object", "string", "", 0, "The object that this event is about."),
    ("Subobject", "string", "", 1, "The subobject that this event is about."),
    (
        "Source",
        "string",
        "",
        1,
        "The component reporting this event. Should be a short machine understandable string.",
    ),
    ("Message", "string", "", 0, "A human-readable description of the status of this operation."),
    (
        "First Seen",
        "string",
        "",
        1,
        "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
    ),
    ("Count", "string", "", 1, "The number of times this event has occurred."),
    ("Name", "string", "name", 1, _NAME_DOC),
]


def _first_non_empty(*values: str | None) -> str:
    for v in values:
        if v:
            return v
    return ""


def _event_row(ev: Obj, ages: _Ages) -> tuple[list[Any], None]:
    first = (
        ages.since(ev.get("firstTimestamp"))
        if ev.get("firstTimestamp")
        else ages.since(ev.get("eventTime"))
    )
    last = ages.since(ev.get("lastTimestamp")) if ev.get("lastTimestamp") else first
    count = int(ev.get("count") or 0)
    series = ev.get("series")
    if series:
        last = ages.since(series.get("lastObservedTime"))
        count = int(series.get("count") or 0)
    elif count == 0:
        count = 1
    involved = ev.get("involvedObject") or {}
    kind = str(involved.get("kind", "")).lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    source = ev.get("source") or {}
    component = _first_non_empty(source.get("component"), ev.get("reportingComponent"))
    instance = _first_non_empty(source.get("host"), ev.get("reportingInstance"))
    source_text = (
        "" if not component else (component if not instance else f"{component}, {instance}")
    )
    cells: list[Any] = [
        last,
        ev.get("type", ""),
        ev.get("reason", ""),
        target,
        involved.get("fieldPath", ""),
        source_text,
        str(ev.get("message", "")).strip(),
        first,
        count,
        ev["metadata"]["name"],
    ]
    return cells, None


NODE_COLUMNS: list[Column] = [
    ("Name", "string", "name", 0, _NAME_DOC),
    ("Status", "string", "", 0, "The status of the node"),
    ("Roles", "string", "", 0, "The roles of the node"),
    ("Age", "string", "", 0, _AGE_DOC),
    ("Version", "string", "", 0, "Kubelet Version reported by the node."),
    ("Internal-IP", "string", "", 1, "List of internal IPs of the node."),
    ("External-IP", "string", "", 1, "List of external IPs of the node."),
    (
        "OS-Image",
        "string",
        "",
        1,
        "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
    ),
    (
        "Kernel-Version",
        "string",
        "",
        1,
        "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
    ),
    (
        "Container-Runtime",
        "string",
        "",
        1,
        "ContainerRuntime Version reported by the node through "
        "runtime remote API (e.g. containerd://1.4.2).",
    ),
]


def _node_row(node: Obj, ages: _Ages) -> tuple[list[Any], None]:
    status = node.get("status") or {}
    states = []
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    if ready is None:
        states.append("Unknown")
    else:
        states.append("Ready" if ready.get("status") == "True" else "NotReady")
    if (node.get("spec") or {}).get("unschedulable"):
        states.append("SchedulingDisabled")
    labels = node["metadata"].get("labels") or {}
    roles = sorted(
        k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/") and "/" in k
    )
    if labels.get("kubernetes.io/role"):
        roles.append(labels["kubernetes.io/role"])
    info = status.get("nodeInfo") or {}
    addresses = status.get("addresses") or []

    def addr(kind: str) -> str:
        found = [a.get("address", "") for a in addresses if a.get("type") == kind]
        return ",".join(found) if found else "<none>"

    cells: list[Any] = [
        node["metadata"]["name"],
        ",".join(states),
        ",".join(roles) or "<none>",
        ages.since(node["metadata"].get("creationTimestamp")),
        info.get("kubeletVersion", ""),
        addr("InternalIP"),
        addr("ExternalIP"),
        info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]
    return cells, None


NAMESPACE_COLUMNS: list[Column] = [
    ("Name", "string", "name", 0, _NAME_DOC),
    ("Status", "string", "", 0, "The status of the namespace"),
    ("Age", "string", "", 0, _AGE_DOC),
]


def _namespace_row(ns: Obj, ages: _Ages) -> tuple[list[Any], None]:
    return [
        ns["metadata"]["name"],
        (ns.get("status") or {}).get("phase", ""),
        ages.since(ns["metadata"].get("creationTimestamp")),
    ], None


DEFAULT_COLUMNS: list[Column] = [
    ("Name", "string", "name", 0, _NAME_DOC),
    ("Created At", "date", "", 0, _AGE_DOC),
]


def _default_row(obj: Obj, ages: _Ages) -> tuple[list[Any], None]:
    return [obj["metadata"]["name"], obj["metadata"].get("creationTimestamp")], None


LEASE_COLUMNS: list[Column] = [
    ("Name", "string", "name", 0, _NAME_DOC),
    ("Holder", "string", "", 0, COLUMNS_HOLDER_DOC),
    ("Age", "string", "", 0, _AGE_DOC),
]


def _lease_row(lease: Obj, ages: _Ages) -> tuple[list[Any], None]:
    holder = (lease.get("spec") or {}).get("holderIdentity") or ""
    return [
        lease["metadata"]["name"],
        holder,
        ages.since(lease["metadata"].get("creationTimestamp")),
    ], None


Row = Callable[[Obj, _Ages], tuple[list[Any], list[Obj] | None]]
PRINTERS: dict[str, tuple[list[Column], Row]] = {
    "Pod": (POD_COLUMNS, _pod_row),
    "Deployment": (DEPLOYMENT_COLUMNS, _deployment_row),
    "ReplicaSet": (REPLICASET_COLUMNS, _replicaset_row),
    "Event": (EVENT_COLUMNS, _event_row),
    "Node": (NODE_COLUMNS, _node_row),
    "Namespace": (NAMESPACE_COLUMNS, _namespace_row),
    "Lease": (LEASE_COLUMNS, _lease_row),
}


def _register_apps_printers() -> None:
    from kubesim.api import apps_tables  # it builds on the helpers above

    PRINTERS.update(apps_tables.PRINTERS)


_register_apps_printers()


def _register_batch_and_network_printers() -> None:
    from kubesim.api import batch_tables  # noqa: PLC0415 - it builds on the helpers above

    PRINTERS.update(batch_tables.PRINTERS)


_register_batch_and_network_printers()


def _register_storage_printers() -> None:
    from kubesim.api import storage  # noqa: PLC0415 - it builds on the helpers above

    PRINTERS.update(storage.PRINTERS)


_register_storage_printers()


def _include_object(request: Request | None) -> str:
    if request is None:
        return "Metadata"
    first = request.headers.get("accept", "").split(",")[0]
    for param in first.split(";"):
        key, _, value = param.strip().partition("=")
        if key == "includeObject" and value in ("None", "Object", "Metadata"):
            return value
    return "Metadata"


def table(
    rtype: ResourceType,
    listing: Obj,
    clock: SimClock,
    request: Request | None = None,
    columns: bool = True,
) -> Obj:
    """A meta.k8s.io/v1 Table for a list (or a one-item list for a get or a watch event)."""
    cols, printer = PRINTERS.get(rtype.kind, (DEFAULT_COLUMNS, _default_row))
    ages = _Ages(clock)
    include = _include_object(request)
    rows: list[Obj] = []
    for obj in listing.get("items") or []:
        cells, conditions = printer(obj, ages)
        row: Obj = {"cells": cells}
        if conditions:
            row["conditions"] = conditions
        if include == "Object":
            full = dict(obj)
            full["kind"], full["apiVersion"] = rtype.kind, rtype.api_version
            row["object"] = full
        elif include == "Metadata":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj.get("metadata", {}),
            }
        rows.append(row)
    meta = {
        k: v
        for k, v in (listing.get("metadata") or {}).items()
        if k in ("resourceVersion", "continue", "remainingItemCount")
    }
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": [
            {"name": n, "type": t, "format": f, "description": d, "priority": p}
            for n, t, f, p, d in cols
        ]
        if columns
        else [],
        "rows": rows,
    }
