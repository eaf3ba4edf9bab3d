"""The node lifecycle controller and the NoExecute taint manager (kube-controller-manager 1.28).

- A node whose kubelet stopped posting status (`sim.set_node_ready(name, False)`, or the node
  annotation `kubesim.io/node-ready: "false"`) keeps its last status for the node monitor grace
  period (40 s); then every condition becomes `Unknown`, reason `NodeStatusUnknown`, message
  "Kubelet stopped posting node status." (lastHeartbeatTime stays the last heartbeat), the node
  gets `node.kubernetes.io/unreachable` NoSchedule and NoExecute taints (`timeAdded`), its pods'
  `Ready` condition turns False (MarkPodsNotReady, a `NodeNotReady` event "Node is not ready")
  and the node a `NodeNotReady` event. That node's kubelet does nothing meanwhile: its pods keep
  their last status, and a pod deleted there stays Terminating until the kubelet is back.
- Taints from conditions and spec (TaintNodesByCondition): `node.kubernetes.io/not-ready` for
  Ready=False, `unschedulable` for a cordoned node, `memory-pressure`, `disk-pressure`,
  `pid-pressure` (NoSchedule).
- The taint manager deletes pods that do not tolerate a node's NoExecute taint, at once or after
  the smallest matching `tolerationSeconds` (300 s from the DefaultTolerationSeconds admission),
  counted from when it saw the taint: condition `DisruptionTarget` (reason
  `DeletionByTaintManager`), event `TaintManagerEviction` "Marking for deletion Pod ns/name".
"""

from __future__ import annotations

from typing import Any

from kubesim.controllers import events
from kubesim.controllers.base import Context, delete_pod, is_terminating, set_condition
from kubesim.store import NODES, PODS, NotFound, Obj

NODE_READY = "kubesim.io/node-ready"
GRACE = 40.0  # --node-monitor-grace-period
NODE_CONTROLLER = events.Source("node-controller")
TAINT_CONTROLLER = events.Source("taint-controller")
UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
_CONDITION_TAINTS = {
    "MemoryPressure": "node.kubernetes.io/memory-pressure",
    "DiskPressure": "node.kubernetes.io/disk-pressure",
    "PIDPressure": "node.kubernetes.io/pid-pressure",
}
MANAGED = {UNREACHABLE, NOT_READY, UNSCHEDULABLE, *_CONDITION_TAINTS.values()}
STOPPED = "Kubelet stopped posting node status."
_READY_AGAIN = {
    "MemoryPressure": (
        "False",
        "KubeletHasSufficientMemory",
        "kubelet has sufficient memory available",
    ),
    "DiskPressure": ("False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    "PIDPressure": ("False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    "Ready": ("True", "KubeletReady", "kubelet is posting ready status"),
}


def kubelet_stopped(node: Obj | None) -> bool:
    """The node's kubelet is not running (it posts no status and runs no pods)."""
    annotations = ((node or {}).get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(NODE_READY, "")).lower() == "false"


def _condition(node: Obj, type_: str) -> dict[str, Any] | None:
    return next(
        (c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == type_),
        None,
    )


def tolerates(tolerations: list[dict[str, Any]], taint: dict[str, Any]) -> bool:
    return _matching(tolerations, taint) != []


def _matching(tolerations: list[dict[str, Any]], taint: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for tol in tolerations:
        if tol.get("effect") and tol.get("effect") != taint.get("effect"):
            continue
        if tol.get("operator") == "Exists":
            if not tol.get("key") or tol.get("key") == taint.get("key"):
                found.append(tol)
        elif tol.get("key") == taint.get("key") and (tol.get("value") or "") == (
            taint.get("value") or ""
        ):
            found.append(tol)
    return found


class NodeLifecycleController:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._stopped: dict[str, float] = {}  # node -> when its kubelet stopped posting
        self._evictions: dict[str, tuple[float, float | None]] = {}  # pod uid -> (seen, due)

    def next_due(self) -> float | None:
        dues = [at + GRACE for at in self._stopped.values()]
        dues += [due for _, due in self._evictions.values() if due is not None]
        return min(dues, default=None)

    def reconcile(self, now: float) -> bool:
        changed = False
        nodes = list(self.ctx.store.iter_refs(NODES))
        for node in nodes:
            changed |= self._monitor(node, now)
        names = {n["metadata"]["name"] for n in nodes}
        for name in list(self._stopped):
            if name not in names:
                del self._stopped[name]
        for node in list(self.ctx.store.iter_refs(NODES)):
            changed |= self._taints(node, now)
        changed |= self._taint_manager(now)
        return changed

    # -- node health --------------------------------------------------------------------------
    def _monitor(self, node: Obj, now: float) -> bool:
        name = node["metadata"]["name"]
        ready = _condition(node, "Ready")
        if kubelet_stopped(node):
            since = self._stopped.setdefault(name, now)
            if now < since + GRACE or (ready is not None and ready.get("status") == "Unknown"):
                return False
            return self._unknown(node, since, now)
        if name in self._stopped:
            del self._stopped[name]
            if ready is not None and ready.get("status") == "Unknown":
                return self._ready_again(node, now)
        return False

    def _unknown(self, node: Obj, since: float, now: float) -> bool:
        name = node["metadata"]["name"]
        stamp = self.ctx.stamp(now)

        def change(current: Obj) -> None:
            conditions = current.setdefault("status", {}).setdefault("conditions", [])
            for type_ in ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready"):
                cond = next((c for c in conditions if c.get("type") == type_), None)
                heartbeat = (cond or {}).get("lastHeartbeatTime") or self.ctx.stamp(since)
                set_condition(conditions, type_, "Unknown", stamp, "NodeStatusUnknown", STOPPED)
                cond = next(c for c in conditions if c.get("type") == type_)
                cond["lastHeartbeatTime"] = heartbeat
                cond["lastTransitionTime"] = stamp
                _order(cond)

        try:
            updated = self.ctx.store.mutate(NODES, "", name, change)
        except NotFound:
            return False
        self.ctx.events.emit(
            updated,
            "Normal",
            "NodeNotReady",
            f"Node {name} status is now: NodeNotReady",
            NODE_CONTROLLER,
            now,
        )
        for pod in list(self.ctx.store.iter_refs(PODS)):
            if (pod.get("spec") or {}).get("nodeName") == name:
                self._mark_not_ready(pod, now)
        return True

    def _mark_not_ready(self, pod: Obj, now: float) -> None:
        ready = next(
            (c for c in (pod.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"),
            None,
        )
        if ready is None or ready.get("status") == "False":
            return
        meta = pod["metadata"]

        def change(current: Obj) -> None:
            for cond in (current.get("status") or {}).get("conditions") or []:
                if cond.get("type") == "Ready":
                    cond["status"] = "False"
                    cond["lastTransitionTime"] = self.ctx.stamp(now)

        try:
            updated = self.ctx.store.mutate(PODS, meta.get("namespace", ""), meta["name"], change)
        except NotFound:
            return
        self.ctx.events.emit(
            updated, "Warning", "NodeNotReady", "Node is not ready", NODE_CONTROLLER, now
        )

    def _ready_again(self, node: Obj, now: float) -> bool:
        """The kubelet posts its status again (as its first heartbeat after a restart)."""
        name = node["metadata"]["name"]
        stamp = self.ctx.stamp(now)

        def change(current: Obj) -> None:
            conditions = current.setdefault("status", {}).setdefault("conditions", [])
            for type_, (status, reason, message) in _READY_AGAIN.items():
                set_condition(conditions, type_, status, stamp, reason, message)
                cond = next(c for c in conditions if c.get("type") == type_)
                cond["lastHeartbeatTime"] = stamp
                _order(cond)

        try:
            updated = self.ctx.store.mutate(NODES, "", name, change)
        except NotFound:
            return False
        self.ctx.events.emit(
            updated,
            "Normal",
            "NodeReady",
            f"Node {name} status is now: NodeReady",
            events.kubelet(name),
            now,
        )
        return True

    # -- taints -------------------------------------------------------------------------------
    def _taints(self, node: Obj, now: float) -> bool:
        wanted: list[tuple[str, str]] = []
        ready = _condition(node, "Ready")
        if ready is not None and ready.get("status") == "Unknown":
            wanted += [(UNREACHABLE, "NoSchedule"), (UNREACHABLE, "NoExecute")]
        elif ready is not None and ready.get("status") == "False":
            wanted += [(NOT_READY, "NoSchedule"), (NOT_READY, "NoExecute")]
        if (node.get("spec") or {}).get("unschedulable"):
            wanted.append((UNSCHEDULABLE, "NoSchedule"))
        for type_, key in _CONDITION_TAINTS.items():
            cond = _condition(node, type_)
            if cond is not None and cond.get("status") == "True":
                wanted.append((key, "NoSchedule"))
        taints = (node.get("spec") or {}).get("taints") or []
        have = {(t.get("key"), t.get("effect")) for t in taints if t.get("key") in MANAGED}
        if have == set(wanted):
            return False
        stamp = self.ctx.stamp(now)

        def change(current: Obj) -> None:
            spec = current.setdefault("spec", {})
            kept = [
                t
                for t in spec.get("taints") or []
                if t.get("key") not in MANAGED or (t.get("key"), t.get("effect")) in wanted
            ]
            present = {(t.get("key"), t.get("effect")) for t in kept}
            for key, effect in wanted:
                if (key, effect) not in present:
                    kept.append({"key": key, "effect": effect, "timeAdded": stamp})
            if kept:
                spec["taints"] = kept
            else:
                spec.pop("taints", None)

        try:
            self.ctx.store.mutate(NODES, "", node["metadata"]["name"], change)
        except NotFound:
            return False
        return True

    # -- the NoExecute taint manager ----------------------------------------------------------
    def _taint_manager(self, now: float) -> bool:
        no_execute = {
            n["metadata"]["name"]: [
                t
                for t in (n.get("spec") or {}).get("taints") or []
                if t.get("effect") == "NoExecute"
            ]
            for n in self.ctx.store.iter_refs(NODES)
        }
        changed = False
        live: set[str] = set()
        for pod in list(self.ctx.store.iter_refs(PODS)):
            taints = no_execute.get((pod.get("spec") or {}).get("nodeName") or "") or []
            if not taints or is_terminating(pod):
                continue
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            uid = pod["metadata"]["uid"]
            tolerations = (pod.get("spec") or {}).get("tolerations") or []
            seconds: float | None = None
            forever = True
            for taint in taints:
                matching = _matching(tolerations, taint)
                if not matching:
                    seconds, forever = 0.0, False
                    break
                for tol in matching:
                    limit = tol.get("tolerationSeconds")
                    if limit is not None:
                        limit = max(float(limit), 0.0)
                        seconds = limit if seconds is None else min(seconds, limit)
                        forever = False
            if forever:
                continue
            live.add(uid)
            seen, _ = self._evictions.get(uid, (now, None))
            due = seen + (seconds or 0.0)
            self._evictions[uid] = (seen, due)
            if now >= due:
                changed |= self._evict(pod, now)
                self._evictions.pop(uid, None)
        for uid in list(self._evictions):
            if uid not in live:
                del self._evictions[uid]
        return changed

    def _evict(self, pod: Obj, now: float) -> bool:
        meta = pod["metadata"]
        namespace = meta.get("namespace", "")
        stamp = self.ctx.stamp(now)

        def change(current: Obj) -> None:
            conditions = current.setdefault("status", {}).setdefault("conditions", [])
            set_condition(
                conditions,
                "DisruptionTarget",
                "True",
                stamp,
                "DeletionByTaintManager",
                "Taint manager: deleting due to NoExecute taint",
                probe_time=True,
            )

        try:
            updated = self.ctx.store.mutate(PODS, namespace, meta["name"], change)
        except NotFound:
            return False
        self.ctx.events.emit(
            updated,
            "Normal",
            "TaintManagerEviction",
            f"Marking for deletion Pod {namespace}/{meta['name']}",
            TAINT_CONTROLLER,
            now,
        )
        delete_pod(self.ctx, updated, now)
        return True


def _order(cond: dict[str, Any]) -> None:
    """The key order a node condition is serialised with."""
    keys = ("type", "status", "lastHeartbeatTime", "lastTransitionTime", "reason", "message")
    items = {k: cond[k] for k in keys if k in cond}
    rest = {k: v for k, v in cond.items() if k not in items}
    cond.clear()
    cond.update(items)
    cond.update(rest)
