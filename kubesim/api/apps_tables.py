"""Table rows for StatefulSets, DaemonSets and ControllerRevisions, as the 1.28 printers
(pkg/printers/internalversion) fill them; registered into `kubesim.api.tables.PRINTERS`."""

from __future__ import annotations

from typing import Any, Protocol

from kubesim.api.tables import _AGE_DOC, _NAME_DOC, Column, format_selector

Obj = dict[str, Any]
_DS_DOCS = "More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/"


class Ages(Protocol):
    def since(self, stamp: str | None) -> str: ...


def _containers(template_spec: Obj) -> list[str]:
    containers = template_spec.get("containers") or []
    return [
        ",".join(c.get("name", "") for c in containers),
        ",".join(c.get("image", "") for c in containers),
    ]


STATEFULSET_COLUMNS: list[Column] = [
    ("Name", "string", "name", 0, _NAME_DOC),
    ("Ready", "string", "", 0, "Number of the pod with ready state"),
    ("Age", "string", "", 0, _AGE_DOC),
    ("Containers", "string", "", 1, "Names of each container in the template."),
    ("Images", "string", "", 1, "Images referenced by each container in the template."),
]


def _statefulset_row(obj: Obj, ages: Ages) -> tuple[list[Any], None]:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    cells: list[Any] = [
        obj["metadata"]["name"],
        f"{int(status.get('readyReplicas') or 0)}/{int(spec.get('replicas') or 0)}",
        ages.since(obj["metadata"].get("creationTimestamp")),
        *_containers(((spec.get("template") or {}).get("spec")) or {}),
    ]
    return cells, None


DAEMONSET_COLUMNS: list[Column] = [
    ("Name", "string", "name", 0, _NAME_DOC),
    (
        "Desired",
        "integer",
        "",
        0,
        "The total number of nodes that should be running the daemon pod (including nodes "
        f"correctly running the daemon pod). {_DS_DOCS}",
    ),
    (
        "Current",
        "integer",
        "",
        0,
        "The number of nodes that are running at least 1 daemon pod and are supposed to run "
        f"the daemon pod. {_DS_DOCS}",
    ),
    (
        "Ready",
        "integer",
        "",
        0,
        "The number of nodes that should be running the daemon pod and have one or more of the "
        "daemon pod running and ready.",
    ),
    (
        "Up-to-date",
        "integer",
        "",
        0,
        "The total number of nodes that are running updated daemon pod",
    ),
    (
        "Available",
        "integer",
        "",
        0,
        "The number of nodes that should be running the daemon pod and have one or more of the "
        "daemon pod running and available (ready for at least spec.minReadySeconds)",
    ),
    (
        "Node Selector",
        "string",
        "",
        0,
        "NodeSelector is a selector which must be true for the pod to fit on a node. Selector "
        "which must match a node's labels for the pod to be scheduled on that node. More info: "
        "https://kubernetes.io/docs/concepts/configuration/assign-pod-node/",
    ),
    ("Age", "string", "", 0, _AGE_DOC),
    ("Containers", "string", "", 1, "Names of each container in the template."),
    ("Images", "string", "", 1, "Images referenced by each container in the template."),
    (
        "Selector",
        "string",
        "",
        1,
        "A label query over pods that are managed by the daemon set. Must match in order to be "
        "controlled. If empty, defaulted to labels on Pod template. More info: "
        "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
    ),
]


def _format_labels(labels: dict[str, str] | None) -> str:
    """labels.FormatLabels: sorted `k=v` pairs, `<none>` when empty."""
    if not labels:
        return "<none>"
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _daemonset_row(obj: Obj, ages: Ages) -> tuple[list[Any], None]:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    template_spec = ((spec.get("template") or {}).get("spec")) or {}
    cells: list[Any] = [
        obj["metadata"]["name"],
        int(status.get("desiredNumberScheduled") or 0),
        int(status.get("currentNumberScheduled") or 0),
        int(status.get("numberReady") or 0),
        int(status.get("updatedNumberScheduled") or 0),
        int(status.get("numberAvailable") or 0),
        _format_labels(template_spec.get("nodeSelector")),
        ages.since(obj["metadata"].get("creationTimestamp")),
        *_containers(template_spec),
        format_selector(spec.get("selector")),
    ]
    return cells, None


CONTROLLERREVISION_COLUMNS: list[Column] = [
    ("Name", "string", "name", 0, _NAME_DOC),
    ("Controller", "string", "", 0, "Controller of the object"),
    (
        "Revision",
        "string",
        "",
        0,
        "revision indicates the revision of the state represented by Data.",
    ),
    ("Age", "string", "", 0, _AGE_DOC),
]


def _controller_name(obj: Obj) -> str:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            group = str(ref.get("apiVersion", "")).rpartition("/")[0]
            kind = str(ref.get("kind", ""))
            qualified = f"{kind}.{group}" if group else kind
            return f"{qualified.lower()}/{ref.get('name', '')}"
    return "<none>"


def _controllerrevision_row(obj: Obj, ages: Ages) -> tuple[list[Any], None]:
    cells: list[Any] = [
        obj["metadata"]["name"],
        _controller_name(obj),
        int(obj.get("revision") or 0),
        ages.since(obj["metadata"].get("creationTimestamp")),
    ]
    return cells, None


PRINTERS: dict[str, tuple[list[Column], Any]] = {
    "StatefulSet": (STATEFULSET_COLUMNS, _statefulset_row),
    "DaemonSet": (DAEMONSET_COLUMNS, _daemonset_row),
    "ControllerRevision": (CONTROLLERREVISION_COLUMNS, _controllerrevision_row),
}
