"""Volumes as kube-controller-manager 1.28 and the scheduler's VolumeBinding plugin handle them.

- The PersistentVolume controller (`persistentvolume-controller`, resync every 15 s) binds a
  Pending claim to an Available volume that fits (class, size, access modes) or to a volume
  pre-bound to it; otherwise, by the claim's StorageClass:
  no class at all: `FailedBinding` "no persistent volumes available for this claim and no storage
  class is set"; an unknown class: `ProvisioningFailed` `storageclass.storage.k8s.io "x" not
  found`; `kubernetes.io/no-provisioner`: `ProvisioningFailed` "no volume plugin matched name:
  kubernetes.io/no-provisioner"; `WaitForFirstConsumer` classes wait for the scheduler
  (`WaitForFirstConsumer` "waiting for first consumer to be created before binding"); any other
  provisioner gets the `volume.kubernetes.io/storage-provisioner` annotations and
  `ExternalProvisioning` ("Waiting for a volume to be created either by the external provisioner
  ..."), repeated at each resync, unless kubesim simulates that provisioner (`PROVISIONERS`, or
  `add_provisioner`): then it creates `pvc-<claim uid>` at once (`Provisioning`,
  `ProvisioningSucceeded`) and the claim binds. Claims without a class get the default
  StorageClass when one appears (retroactive default class, GA in 1.28).
- Released volumes: `Retain` keeps them `Released`, `Delete` deletes them.
- Protection: `kubernetes.io/pvc-protection` keeps a deleted claim (Terminating) while a pod that
  has not finished uses it; `kubernetes.io/pv-protection` keeps a deleted volume while bound.
- The scheduler asks `prefilter`, `node_problem` and `prebind` (VolumeBinding).

Kept for recorded scenarios: a claim annotated `kubesim.io/unbound: "true"` (or
`kubesim.io/no-provisioner`) never binds.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from kubesim.controllers import quantity
from kubesim.controllers.base import Context, is_terminating
from kubesim.controllers.events import Source
from kubesim.store import NODES, PODS, PVCS, PVS, STORAGECLASSES, AlreadyExists, NotFound, Obj

RESYNC = 15.0
PV_CONTROLLER = Source("persistentvolume-controller")
NO_PROVISIONER = "kubernetes.io/no-provisioner"
PVC_PROTECTION = "kubernetes.io/pvc-protection"
PV_PROTECTION = "kubernetes.io/pv-protection"
DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"
BETA_DEFAULT_CLASS = "storageclass.beta.kubernetes.io/is-default-class"
BETA_CLASS = "volume.beta.kubernetes.io/storage-class"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
PROVISIONER_ANNOTATIONS = (
    "volume.beta.kubernetes.io/storage-provisioner",
    "volume.kubernetes.io/storage-provisioner",
)
BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
# Provisioners kubesim runs (kind's, minikube's, the clouds' CSI drivers): they provision at once.
PROVISIONERS = frozenset(
    {
        "rancher.io/local-path",
        "k8s.io/minikube-hostpath",
        "kubesim.io/hostpath",
        "ebs.csi.aws.com",
        "efs.csi.aws.com",
        "pd.csi.storage.gke.io",
        "disk.csi.azure.com",
        "file.csi.azure.com",
    }
)
NO_VOLUMES = "node(s) didn't find available persistent volumes to bind"
AFFINITY_CONFLICT = "node(s) had volume node affinity conflict"


def standard_class() -> Obj:
    """The default StorageClass a kind cluster comes with (KubeSim seeds it)."""
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": "standard", "annotations": {DEFAULT_CLASS: "true"}},
        "provisioner": "rancher.io/local-path",
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer",
    }


def _annotations(obj: Obj) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("annotations") or {}


def claim_class(pvc: Obj) -> str | None:
    annotations = _annotations(pvc)
    if BETA_CLASS in annotations:
        return str(annotations[BETA_CLASS])
    value = (pvc.get("spec") or {}).get("storageClassName")
    return None if value is None else str(value)


def default_class(ctx: Context) -> Obj | None:
    found = [
        sc
        for sc in ctx.store.iter_refs(STORAGECLASSES)
        if "true" in (_annotations(sc).get(DEFAULT_CLASS), _annotations(sc).get(BETA_DEFAULT_CLASS))
    ]
    if not found:
        return None
    return max(
        found, key=lambda sc: (sc["metadata"].get("creationTimestamp", ""), sc["metadata"]["name"])
    )


def _storage(value: object) -> float:
    try:
        return quantity.memory_bytes(value)
    except quantity.QuantityError:
        return 0.0


def _never_binds(pvc: Obj) -> bool:
    annotations = _annotations(pvc)
    return (
        annotations.get("kubesim.io/unbound") == "true"
        or "kubesim.io/no-provisioner" in annotations
    )


def _bound(pvc: Obj) -> bool:
    return (pvc.get("status") or {}).get("phase") == "Bound"


def _class_of(ctx: Context, pvc: Obj) -> Obj | None:
    name = claim_class(pvc)
    return ctx.store.peek(STORAGECLASSES, "", name) if name else None


def _wait_for_consumer(ctx: Context, pvc: Obj) -> bool:
    sc = _class_of(ctx, pvc)
    return sc is not None and sc.get("volumeBindingMode") == "WaitForFirstConsumer"


def _fits(pv: Obj, pvc: Obj) -> bool:
    """An Available volume a claim may take: same class, enough room, its access modes."""
    spec, want = pv.get("spec") or {}, pvc.get("spec") or {}
    if is_terminating(pv) or (pv.get("status") or {}).get("phase") not in (
        None,
        "Available",
        "Pending",
    ):
        return False
    if spec.get("claimRef"):
        return False
    if (spec.get("storageClassName") or "") != (claim_class(pvc) or ""):
        return False
    if (spec.get("volumeMode") or "Filesystem") != (want.get("volumeMode") or "Filesystem"):
        return False
    if not set(want.get("accessModes") or []) <= set(spec.get("accessModes") or []):
        return False
    asked = ((want.get("resources") or {}).get("requests") or {}).get("storage", "0")
    return _storage((spec.get("capacity") or {}).get("storage", "0")) >= _storage(asked)


def _prebound_to(pv: Obj, pvc: Obj) -> bool:
    ref = (pv.get("spec") or {}).get("claimRef") or {}
    meta = pvc["metadata"]
    return (
        ref.get("name") == meta["name"]
        and ref.get("namespace", "") == meta.get("namespace", "")
        and ref.get("uid") in (None, "", meta.get("uid"))
    )


def _node_matches(pv: Obj, node: Obj | None) -> bool:
    """The volume's required node affinity (a local or provisioned hostPath volume) admits node."""
    terms = (((pv.get("spec") or {}).get("nodeAffinity") or {}).get("required") or {}).get(
        "nodeSelectorTerms"
    ) or []
    if not terms:
        return True
    if node is None:
        return False
    labels = node["metadata"].get("labels") or {}
    for term in terms:
        ok = True
        for expr in term.get("matchExpressions") or []:
            key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
            if op == "In":
                ok &= labels.get(key) in values
            elif op == "NotIn":
                ok &= labels.get(key) not in values
            elif op == "Exists":
                ok &= key in labels
            elif op == "DoesNotExist":
                ok &= key not in labels
        if ok:
            return True
    return False


def _pod_claims(ctx: Context, pod: Obj) -> list[tuple[str, Obj | None]]:
    namespace = pod["metadata"].get("namespace", "")
    out: list[tuple[str, Obj | None]] = []
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
        if claim:
            out.append((claim, ctx.store.peek(PVCS, namespace, claim)))
    return out


# -- the scheduler's VolumeBinding plugin ----------------------------------------------------
def prefilter(ctx: Context, pod: Obj) -> str | None:
    """PreFilter: a missing or deleted claim, or an unbound claim that binds immediately."""
    for name, pvc in _pod_claims(ctx, pod):
        if pvc is None:
            return f'persistentvolumeclaim "{name}" not found'
        if is_terminating(pvc):
            return f'persistentvolumeclaim "{name}" is being deleted'
        if not _bound(pvc) and (_never_binds(pvc) or not _wait_for_consumer(ctx, pvc)):
            return "pod has unbound immediate PersistentVolumeClaims"
    return None


def node_problem(ctx: Context, pod: Obj, node: Obj) -> str | None:
    """Filter: a bound volume tied to another node; a late-binding claim no volume can serve."""
    for _, pvc in _pod_claims(ctx, pod):
        if pvc is None:
            continue
        if _bound(pvc):
            pv = ctx.store.peek(PVS, "", (pvc.get("spec") or {}).get("volumeName") or "")
            if pv is not None and not _node_matches(pv, node):
                return AFFINITY_CONFLICT
            continue
        sc = _class_of(ctx, pvc)
        if sc is None or sc.get("provisioner") != NO_PROVISIONER:
            continue  # a provisioner makes one for the chosen node
        if not any(_fits(pv, pvc) and _node_matches(pv, node) for pv in ctx.store.iter_refs(PVS)):
            return NO_VOLUMES
    return None


def prebind(ctx: Context, pod: Obj, node_name: str) -> bool:
    """PreBind: bind or ask for a volume for each late-binding claim on the chosen node. True
    when every claim is bound (the pod may be bound); False while volumes are being made."""
    node = ctx.store.peek(NODES, "", node_name)
    ready = True
    for _, pvc in _pod_claims(ctx, pod):
        if pvc is None or _bound(pvc):
            continue
        ready = False
        meta = pvc["metadata"]
        sc = _class_of(ctx, pvc)
        if sc is not None and sc.get("provisioner") == NO_PROVISIONER:
            candidates = sorted(
                (
                    pv
                    for pv in ctx.store.iter_refs(PVS)
                    if _fits(pv, pvc) and _node_matches(pv, node)
                ),
                key=lambda pv: (
                    _storage((pv["spec"].get("capacity") or {}).get("storage")),
                    pv["metadata"]["name"],
                ),
            )
            if candidates:
                _claim_volume(ctx, candidates[0], pvc)
            continue
        if _annotations(pvc).get(SELECTED_NODE) != node_name:

            def select(current: Obj) -> None:
                current["metadata"].setdefault("annotations", {})[SELECTED_NODE] = node_name

            try:
                ctx.store.mutate(PVCS, meta.get("namespace", ""), meta["name"], select)
            except NotFound:
                continue
    return ready


def _claim_volume(ctx: Context, pv: Obj, pvc: Obj) -> None:
    """Point a volume at a claim (claimRef), as the scheduler or the controller does first."""
    meta = pvc["metadata"]

    def bind(current: Obj) -> None:
        current.setdefault("spec", {})["claimRef"] = {
            "kind": "PersistentVolumeClaim",
            "namespace": meta.get("namespace", ""),
            "name": meta["name"],
            "uid": meta.get("uid", ""),
            "apiVersion": "v1",
            "resourceVersion": meta.get("resourceVersion", ""),
        }
        current["metadata"].setdefault("annotations", {})[BOUND_BY_CONTROLLER] = "yes"

    try:
        ctx.store.mutate(PVS, "", pv["metadata"]["name"], bind)
    except NotFound:
        return


class VolumeBinder:
    """The PersistentVolume controller, the provisioners kubesim runs, PVC / PV protection."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.provisioners: set[str] = set(PROVISIONERS)
        self._next_sync: dict[str, float] = {}  # claim uid -> next resync with events
        self._seen: dict[str, str | None] = {}  # claim uid -> resourceVersion last synced

    def add_provisioner(self, name: str) -> None:
        """Make kubesim provision volumes for StorageClasses naming `name`."""
        self.provisioners.add(name)

    def next_due(self) -> float | None:
        return min(self._next_sync.values(), default=None)

    def reconcile(self, now: float) -> bool:
        changed = False
        live: set[str] = set()
        for pvc in list(self.ctx.store.iter_refs(PVCS)):
            live.add(pvc["metadata"]["uid"])
            changed |= self._sync_claim(pvc, now)
        for uid in list(self._next_sync):
            if uid not in live:
                del self._next_sync[uid]
                self._seen.pop(uid, None)
        for pv in list(self.ctx.store.iter_refs(PVS)):
            changed |= self._sync_volume(pv)
        return changed

    # -- claims -----------------------------------------------------------------------------
    def _sync_claim(self, pvc: Obj, now: float) -> bool:
        meta = pvc["metadata"]
        uid = meta["uid"]
        if is_terminating(pvc):
            self._next_sync.pop(uid, None)
            return self._release_claim(pvc)
        if PVC_PROTECTION not in (meta.get("finalizers") or []):
            return self._mutate_claim(
                pvc, lambda c: c["metadata"].setdefault("finalizers", []).append(PVC_PROTECTION)
            )
        if _bound(pvc):
            self._next_sync.pop(uid, None)
            return False
        if _never_binds(pvc):
            if (pvc.get("status") or {}).get("phase") != "Pending":
                return self._mutate_claim(
                    pvc, lambda c: c.__setitem__("status", {"phase": "Pending"})
                )
            return False
        if claim_class(pvc) is None:
            sc = default_class(self.ctx)
            if sc is not None:
                name = sc["metadata"]["name"]
                return self._mutate_claim(
                    pvc, lambda c: c.setdefault("spec", {}).__setitem__("storageClassName", name)
                )
        volume = self._volume_for(pvc)
        if volume is not None:
            self._next_sync.pop(uid, None)
            return self._bind(volume, pvc, now)
        # A resync every 15 s, and at once when the claim changed (an informer update).
        rv = meta.get("resourceVersion")
        due = self._next_sync.get(uid)
        if due is not None and now < due and self._seen.get(uid) == rv:
            return False
        self._next_sync[uid] = now + RESYNC
        self._seen[uid] = rv
        return self._unbound(pvc, now)

    def _volume_for(self, pvc: Obj) -> Obj | None:
        volumes = list(self.ctx.store.iter_refs(PVS))
        wanted = (pvc.get("spec") or {}).get("volumeName")
        for pv in volumes:
            if wanted and pv["metadata"]["name"] != wanted:
                continue
            if _prebound_to(pv, pvc) and not is_terminating(pv):
                return pv
        if wanted:
            named = self.ctx.store.peek(PVS, "", wanted)
            return named if named is not None and _fits(named, pvc) else None
        if _wait_for_consumer(self.ctx, pvc):
            return None  # the scheduler picks the volume with the node
        fitting = [pv for pv in volumes if _fits(pv, pvc)]
        if not fitting:
            return None
        return min(
            fitting,
            key=lambda pv: (
                _storage((pv["spec"].get("capacity") or {}).get("storage")),
                pv["metadata"]["name"],
            ),
        )

    def _unbound(self, pvc: Obj, now: float) -> bool:
        """No volume yet: provision one, or say why not (the controller's event at each resync)."""
        name = claim_class(pvc)
        emit = self.ctx.events.emit
        if not name:
            emit(
                pvc,
                "Normal",
                "FailedBinding",
                "no persistent volumes available for this claim and no storage class is set",
                PV_CONTROLLER,
                now,
            )
            return True
        sc = self.ctx.store.peek(STORAGECLASSES, "", name)
        if sc is None:
            emit(
                pvc,
                "Warning",
                "ProvisioningFailed",
                f'storageclass.storage.k8s.io "{name}" not found',
                PV_CONTROLLER,
                now,
            )
            return True
        provisioner = str(sc.get("provisioner") or "")
        late = sc.get("volumeBindingMode") == "WaitForFirstConsumer"
        selected = _annotations(pvc).get(SELECTED_NODE)
        if late and not selected:
            emit(
                pvc,
                "Normal",
                "WaitForFirstConsumer",
                "waiting for first consumer to be created before binding",
                PV_CONTROLLER,
                now,
            )
            return True
        if provisioner == NO_PROVISIONER or (
            provisioner.startswith("kubernetes.io/") and provisioner not in self.provisioners
        ):
            emit(
                pvc,
                "Warning",
                "ProvisioningFailed",
                f"no volume plugin matched name: {provisioner}",
                PV_CONTROLLER,
                now,
            )
            return True
        if any(_annotations(pvc).get(a) != provisioner for a in PROVISIONER_ANNOTATIONS):

            def annotate(current: Obj) -> None:
                annotations = current["metadata"].setdefault("annotations", {})
                for key in PROVISIONER_ANNOTATIONS:
                    annotations[key] = provisioner

            self._mutate_claim(pvc, annotate)
            pvc = (
                self.ctx.store.peek(
                    PVCS, pvc["metadata"].get("namespace", ""), pvc["metadata"]["name"]
                )
                or pvc
            )
        emit(
            pvc,
            "Normal",
            "ExternalProvisioning",
            "Waiting for a volume to be created either by the external provisioner "
            f"'{provisioner}' or manually by the system administrator. If volume creation is "
            "delayed, please verify that the provisioner is running and correctly registered.",
            PV_CONTROLLER,
            now,
        )
        if provisioner in self.provisioners:
            self._provision(pvc, sc, selected, now)
        return True

    def _provision(self, pvc: Obj, sc: Obj, node: str | None, now: float) -> bool:
        meta = pvc["metadata"]
        provisioner = str(sc.get("provisioner"))
        instance = hashlib.sha256(provisioner.encode()).hexdigest()[:8]
        source = Source(f"{provisioner}_kubesim-provisioner_{instance}")
        self.ctx.events.emit(
            pvc,
            "Normal",
            "Provisioning",
            "External provisioner is provisioning volume for claim "
            f'"{meta.get("namespace", "")}/{meta["name"]}"',
            source,
            now,
        )
        spec = pvc.get("spec") or {}
        name = f"pvc-{meta['uid']}"
        pv_spec: Obj = {
            "capacity": {
                "storage": ((spec.get("resources") or {}).get("requests") or {}).get(
                    "storage", "1Gi"
                )
            },
            "hostPath": {
                "path": "/var/local-path-provisioner/"
                f"{name}_{meta.get('namespace', '')}_{meta['name']}",
                "type": "DirectoryOrCreate",
            },
            "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
            "claimRef": {
                "kind": "PersistentVolumeClaim",
                "namespace": meta.get("namespace", ""),
                "name": meta["name"],
                "uid": meta["uid"],
                "apiVersion": "v1",
                "resourceVersion": meta.get("resourceVersion", ""),
            },
            "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy") or "Delete",
            "storageClassName": sc["metadata"]["name"],
            "volumeMode": spec.get("volumeMode") or "Filesystem",
        }
        if node:
            pv_spec["nodeAffinity"] = {
                "required": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {
                                    "key": "kubernetes.io/hostname",
                                    "operator": "In",
                                    "values": [node],
                                }
                            ]
                        }
                    ]
                }
            }
        pv: Obj = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {
                "name": name,
                "annotations": {PROVISIONED_BY: provisioner},
                "finalizers": [PV_PROTECTION],
            },
            "spec": pv_spec,
            "status": {"phase": "Pending"},
        }
        try:
            created = self.ctx.store.create(PVS, pv)
        except AlreadyExists:
            return False
        self.ctx.events.emit(
            pvc,
            "Normal",
            "ProvisioningSucceeded",
            f"Successfully provisioned volume {name}",
            source,
            now,
        )
        return self._bind(created, pvc, now)

    def _bind(self, pv: Obj, pvc: Obj, now: float) -> bool:
        """Both halves of a binding, as syncVolume / syncClaim complete it."""
        if not _prebound_to(pv, pvc) or not (pv["spec"].get("claimRef") or {}).get("uid"):
            _claim_volume(self.ctx, pv, pvc)
        pv = self.ctx.store.peek(PVS, "", pv["metadata"]["name"]) or pv

        def volume_bound(current: Obj) -> None:
            current["status"] = {"phase": "Bound"}

        try:
            self.ctx.store.mutate(PVS, "", pv["metadata"]["name"], volume_bound)
        except NotFound:
            return False
        pv_spec = pv.get("spec") or {}

        def claim_bound(current: Obj) -> None:
            current.setdefault("spec", {})["volumeName"] = pv["metadata"]["name"]
            annotations = current["metadata"].setdefault("annotations", {})
            annotations[BIND_COMPLETED] = "yes"
            annotations[BOUND_BY_CONTROLLER] = "yes"
            current["status"] = {
                "phase": "Bound",
                "accessModes": list(pv_spec.get("accessModes") or []),
                "capacity": copy.deepcopy(pv_spec.get("capacity") or {}),
            }

        return self._mutate_claim(pvc, claim_bound) or True

    def _release_claim(self, pvc: Obj) -> bool:
        """pvc-protection: a deleted claim goes once no running pod uses it."""
        meta = pvc["metadata"]
        namespace = meta.get("namespace", "")
        for pod in self.ctx.store.iter_refs(PODS, namespace):
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            for volume in (pod.get("spec") or {}).get("volumes") or []:
                if (volume.get("persistentVolumeClaim") or {}).get("claimName") == meta["name"]:
                    return False
        return _drop_finalizer(self.ctx, PVCS, namespace, meta["name"], PVC_PROTECTION)

    def _mutate_claim(self, pvc: Obj, change: Any) -> bool:
        meta = pvc["metadata"]
        try:
            self.ctx.store.mutate(PVCS, meta.get("namespace", ""), meta["name"], change)
        except NotFound:
            return False
        return True

    # -- volumes ----------------------------------------------------------------------------
    def _sync_volume(self, pv: Obj) -> bool:
        meta = pv["metadata"]
        spec = pv.get("spec") or {}
        phase = (pv.get("status") or {}).get("phase")
        ref = spec.get("claimRef") or {}
        claim = (
            self.ctx.store.peek(PVCS, ref.get("namespace", ""), ref.get("name", ""))
            if ref
            else None
        )
        if claim is not None and ref.get("uid") and claim["metadata"]["uid"] != ref["uid"]:
            claim = None
        if is_terminating(pv):
            if phase == "Bound" and claim is not None:
                return False
            return _drop_finalizer(self.ctx, PVS, "", meta["name"], PV_PROTECTION)
        if PV_PROTECTION not in (meta.get("finalizers") or []):
            return _mutate(
                self.ctx,
                PVS,
                "",
                meta["name"],
                lambda c: c["metadata"].setdefault("finalizers", []).append(PV_PROTECTION),
            )
        wanted = phase
        if not ref:
            wanted = "Available"
        elif claim is None and ref.get("uid"):
            wanted = "Released"
        elif claim is None:
            wanted = "Available"  # pre-bound to a claim not made yet
        if wanted == "Released" and spec.get("persistentVolumeReclaimPolicy") == "Delete":
            _drop_finalizer(self.ctx, PVS, "", meta["name"], PV_PROTECTION, force=True)
            return True
        if wanted != phase and wanted is not None:
            state = wanted
            return _mutate(
                self.ctx, PVS, "", meta["name"], lambda c: c.__setitem__("status", {"phase": state})
            )
        return False


def _mutate(ctx: Context, rtype: Any, namespace: str, name: str, change: Any) -> bool:
    try:
        ctx.store.mutate(rtype, namespace, name, change)
    except NotFound:
        return False
    return True


def _drop_finalizer(
    ctx: Context, rtype: Any, namespace: str, name: str, finalizer: str, force: bool = False
) -> bool:
    """Remove one finalizer; an object being deleted (or `force`) with none left is gone."""
    current = ctx.store.peek(rtype, namespace, name)
    if current is None:
        return False
    kept = [f for f in current["metadata"].get("finalizers") or [] if f != finalizer]
    if kept and not force:

        def change(obj: Obj) -> None:
            obj["metadata"]["finalizers"] = kept

        return _mutate(ctx, rtype, namespace, name, change)
    try:
        ctx.store.delete(rtype, namespace, name)
    except NotFound:
        return False
    return True
