"""PersistentVolumeClaims, PersistentVolumes and StorageClasses on the API side: the defaults the
1.28 registries set, what the admission plugins add (DefaultStorageClass,
StorageObjectInUseProtection) and the Table rows of their printers. The controllers that bind
and provision are in `kubesim/controllers/volumes.py`."""

from __future__ import annotations

from typing import Any

from kubesim.api.tables import _AGE_DOC, _NAME_DOC, Column, Row, _Ages
from kubesim.store import ResourceType, Store

Obj = dict[str, Any]

KINDS = {"PersistentVolumeClaim", "PersistentVolume", "StorageClass"}
DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"
BETA_DEFAULT_CLASS = "storageclass.beta.kubernetes.io/is-default-class"
BETA_CLASS = "volume.beta.kubernetes.io/storage-class"
PVC_PROTECTION = "kubernetes.io/pvc-protection"
PV_PROTECTION = "kubernetes.io/pv-protection"


def is_default_class(sc: Obj) -> bool:
    annotations = (sc.get("metadata") or {}).get("annotations") or {}
    return "true" in (annotations.get(DEFAULT_CLASS), annotations.get(BETA_DEFAULT_CLASS))


def default_class(store: Store) -> Obj | None:
    """The default StorageClass: of several, the newest (then the name), as 1.28 picks it."""
    from kubesim.store import STORAGECLASSES  # noqa: PLC0415 - registered beside the others

    found = [sc for sc in store.iter_refs(STORAGECLASSES) if is_default_class(sc)]
    if not found:
        return None
    return max(
        found,
        key=lambda sc: (sc["metadata"].get("creationTimestamp", ""), sc["metadata"]["name"]),
    )


def claim_class(pvc: Obj) -> str | None:
    """The class a claim asks for: spec.storageClassName, else the beta annotation; None unset."""
    annotations = (pvc.get("metadata") or {}).get("annotations") or {}
    if BETA_CLASS in annotations:
        return str(annotations[BETA_CLASS])
    value = (pvc.get("spec") or {}).get("storageClassName")
    return None if value is None else str(value)


def apply_defaults(kind: str, obj: Obj) -> None:
    spec = obj.get("spec")
    if kind == "PersistentVolumeClaim" and isinstance(spec, dict):
        spec.setdefault("volumeMode", "Filesystem")
    elif kind == "PersistentVolume" and isinstance(spec, dict):
        spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
        spec.setdefault("volumeMode", "Filesystem")
        if isinstance(spec.get("hostPath"), dict):
            spec["hostPath"].setdefault("type", "")
    elif kind == "StorageClass":
        obj.setdefault("reclaimPolicy", "Delete")
        obj.setdefault("volumeBindingMode", "Immediate")


def initial_status(kind: str) -> Obj | None:
    if kind in ("PersistentVolumeClaim", "PersistentVolume"):
        return {"phase": "Pending"}
    return None


def admit(store: Store, rtype: ResourceType, obj: Obj) -> None:
    """On create: the protection finalizers, and a claim without a class gets the default one."""
    meta = obj.setdefault("metadata", {})
    if rtype.kind == "PersistentVolumeClaim":
        spec = obj.setdefault("spec", {})
        if claim_class(obj) is None:
            sc = default_class(store)
            if sc is not None:
                spec["storageClassName"] = sc["metadata"]["name"]
        _finalizer(meta, PVC_PROTECTION)
    elif rtype.kind == "PersistentVolume":
        _finalizer(meta, PV_PROTECTION)


def _finalizer(meta: Obj, name: str) -> None:
    finalizers = list(meta.get("finalizers") or [])
    if name not in finalizers:
        finalizers.append(name)
    meta["finalizers"] = finalizers


# -- Tables (pkg/printers/internalversion) ----------------------------------------------------
_MODES = {
    "ReadWriteOnce": "RWO",
    "ReadOnlyMany": "ROX",
    "ReadWriteMany": "RWX",
    "ReadWriteOncePod": "RWOP",
}


def access_modes(modes: list[str] | None) -> str:
    """GetAccessModesAsString: each mode once, in the fixed order RWO, ROX, RWX, RWOP."""
    present = set(modes or [])
    return ",".join(short for mode, short in _MODES.items() if mode in present)


PVC_COLUMNS: list[Column] = [
    ("Name", "string", "name", 0, _NAME_DOC),
    ("Status", "string", "", 0, "phase represents the current phase of PersistentVolumeClaim."),
    (
        "Volume",
        "string",
        "",
        0,
        "volumeName is the binding reference to the PersistentVolume backing this claim.",
    ),
    (
        "Capacity",
        "string",
        "",
        0,
        "capacity represents the actual resources of the underlying volume.",
    ),
    (
        "Access Modes",
        "string",
        "",
        0,
        "accessModes contains the actual access modes the volume backing the PVC has. More info: "
        "https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes-1",
    ),
    ("StorageClass", "string", "", 0, "StorageClass of the pvc"),
    ("Age", "string", "", 0, _AGE_DOC),
    (
        "VolumeMode",
        "string",
        "",
        1,
        "volumeMode defines what type of volume is required by the claim. Value of Filesystem is "
        "implied when not included in claim spec.",
    ),
]


def _pvc_row(pvc: Obj, ages: _Ages) -> tuple[list[Any], None]:
    spec = pvc.get("spec") or {}
    status = pvc.get("status") or {}
    phase = str(status.get("phase") or "")
    if pvc["metadata"].get("deletionTimestamp"):
        phase = "Terminating"
    capacity = modes = ""
    if spec.get("volumeName"):
        modes = access_modes(status.get("accessModes"))
        capacity = str((status.get("capacity") or {}).get("storage") or "")
    cells: list[Any] = [
        pvc["metadata"]["name"],
        phase,
        spec.get("volumeName") or "",
        capacity,
        modes,
        claim_class(pvc) or "",
        ages.since(pvc["metadata"].get("creationTimestamp")),
        spec.get("volumeMode") or "<unset>",
    ]
    return cells, None


PV_COLUMNS: list[Column] = [
    ("Name", "string", "name", 0, _NAME_DOC),
    (
        "Capacity",
        "string",
        "",
        0,
        "capacity is the description of the persistent volume's resources and capacity. More "
        "info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#capacity",
    ),
    (
        "Access Modes",
        "string",
        "",
        0,
        "accessModes contains all ways the volume can be mounted. More info: "
        "https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes",
    ),
    (
        "Reclaim Policy",
        "string",
        "",
        0,
        "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released "
        "from its claim. Valid options are Retain (default for manually created "
        "PersistentVolumes), Delete (default for dynamically provisioned PersistentVolumes), and "
        "Recycle (deprecated). Recycle must be supported by the volume plugin underlying this "
        "PersistentVolume. More info: "
        "https://kubernetes.io/docs/concepts/storage/persistent-volumes#reclaiming",
    ),
    (
        "Status",
        "string",
        "",
        0,
        "phase indicates if a volume is available, bound to a claim, or released by a claim. "
        "More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#phase",
    ),
    (
        "Claim",
        "string",
        "",
        0,
        "claimRef is part of a bi-directional binding between PersistentVolume and "
        "PersistentVolumeClaim. Expected to be non-nil when bound. claim.VolumeName is the "
        "authoritative bind between PV and PVC. More info: "
        "https://kubernetes.io/docs/concepts/storage/persistent-volumes#binding",
    ),
    ("StorageClass", "string", "", 0, "StorageClass of the pv"),
    (
        "Reason",
        "string",
        "",
        0,
        "reason is a brief CamelCase string that describes any failure and is meant for machine "
        "parsing and tidy display in the CLI.",
    ),
    ("Age", "string", "", 0, _AGE_DOC),
    (
        "VolumeMode",
        "string",
        "",
        1,
        "volumeMode defines if a volume is intended to be used with a formatted filesystem or to "
        "remain in raw block state. Value of Filesystem is implied when not included in spec.",
    ),
]


def _pv_row(pv: Obj, ages: _Ages) -> tuple[list[Any], None]:
    spec = pv.get("spec") or {}
    status = pv.get("status") or {}
    ref = spec.get("claimRef") or {}
    claim = f"{ref.get('namespace', '')}/{ref.get('name', '')}" if ref else ""
    phase = str(status.get("phase") or "")
    if pv["metadata"].get("deletionTimestamp"):
        phase = "Terminating"
    annotations = pv["metadata"].get("annotations") or {}
    cells: list[Any] = [
        pv["metadata"]["name"],
        str((spec.get("capacity") or {}).get("storage") or ""),
        access_modes(spec.get("accessModes")),
        spec.get("persistentVolumeReclaimPolicy") or "",
        phase,
        claim,
        annotations.get(BETA_CLASS) or spec.get("storageClassName") or "",
        status.get("reason") or "",
        ages.since(pv["metadata"].get("creationTimestamp")),
        spec.get("volumeMode") or "<unset>",
    ]
    return cells, None


SC_COLUMNS: list[Column] = [
    ("Name", "string", "name", 0, _NAME_DOC),
    ("Provisioner", "string", "", 0, "provisioner indicates the type of the provisioner."),
    (
        "ReclaimPolicy",
        "string",
        "",
        0,
        "reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes "
        "of this storage class. Defaults to Delete.",
    ),
    (
        "VolumeBindingMode",
        "string",
        "",
        0,
        "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound.  "
        "When unset, VolumeBindingImmediate is used. This field is only honored by servers that "
        "enable the VolumeScheduling feature.",
    ),
    (
        "AllowVolumeExpansion",
        "string",
        "",
        0,
        "allowVolumeExpansion shows whether the storage class allow volume expand.",
    ),
    ("Age", "string", "", 0, _AGE_DOC),
]


def _sc_row(sc: Obj, ages: _Ages) -> tuple[list[Any], None]:
    name = sc["metadata"]["name"]
    if is_default_class(sc):
        name += " (default)"
    cells: list[Any] = [
        name,
        sc.get("provisioner") or "",
        sc.get("reclaimPolicy") or "Delete",
        sc.get("volumeBindingMode") or "Immediate",
        bool(sc.get("allowVolumeExpansion")),
        ages.since(sc["metadata"].get("creationTimestamp")),
    ]
    return cells, None


PRINTERS: dict[str, tuple[list[Column], Row]] = {
    "PersistentVolumeClaim": (PVC_COLUMNS, _pvc_row),
    "PersistentVolume": (PV_COLUMNS, _pv_row),
    "StorageClass": (SC_COLUMNS, _sc_row),
}
