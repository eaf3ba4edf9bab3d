"""The scheduler: bind pending pods to nodes that fit, or say why none does (kube-scheduler 1.28).

Filters run in the real plugin order and stop at a node's first failing plugin:
NodeUnschedulable, TaintToleration, NodeAffinity (nodeSelector), NodeResourcesFit. PVC
problems fail PreFilter for every node. The message is FitError's: reasons histogram, then
the preemption post-filter's own histogram (with 1.28's doubled final period).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from kubesim.controllers import events, quantity, volumes
from kubesim.controllers.base import Context, is_terminating, set_condition
from kubesim.store import NODES, PODS, PVCS, PVS, NotFound, Obj

# An unschedulable pod is retried when the cluster changes, and at least this often
# (podMaxInUnschedulablePodsDuration).
RETRY_SECONDS = 300.0
DEFAULT_CPU = 100.0
DEFAULT_MEMORY = 200.0 * 2**20
NO_VICTIMS = "No preemption victims found for incoming pod"
NOT_HELPFUL = "Preemption is not helpful for scheduling"


@dataclass
class _NodeInfo:
    name: str
    node: Obj
    cpu: float  # allocatable millicores
    memory: float
    pods: int
    used_cpu: float = 0.0
    used_memory: float = 0.0
    used_pods: int = 0
    # Scoring counts pods without requests as 100m / 200Mi (the scheduler's non-zero defaults).
    score_cpu: float = 0.0
    score_memory: float = 0.0

    def add(self, cpu: float, memory: float) -> None:
        self.used_cpu += cpu
        self.used_memory += memory
        self.used_pods += 1
        self.score_cpu += cpu or DEFAULT_CPU
        self.score_memory += memory or DEFAULT_MEMORY


_REQUESTS: dict[str, tuple[float, float]] = {}


def pod_requests(pod: Obj) -> tuple[float, float]:
    """Effective (cpu millicores, memory bytes) request: max(sum of containers, any init)."""
    meta = pod.get("metadata") or {}
    uid = meta.get("uid")
    key = f"{uid}/{meta.get('resourceVersion', '')}"  # resources change only by resize
    if uid and key in _REQUESTS:
        return _REQUESTS[key]
    spec = pod.get("spec") or {}
    # A pod being resized counts with the larger of what it asks and what its node allocated.
    allocated = {
        cs.get("name"): cs.get("allocatedResources") or {}
        for cs in (pod.get("status") or {}).get("containerStatuses") or []
    }

    def req(c: Obj, name: str) -> float:
        res = c.get("resources") or {}
        value = (res.get("requests") or {}).get(name, (res.get("limits") or {}).get(name))
        if value is None:
            return 0.0
        return quantity.cpu_millis(value) if name == "cpu" else quantity.memory_bytes(value)

    def held(c: Obj, name: str) -> float:
        value = req(c, name)
        given = allocated.get(c.get("name"), {}).get(name)
        if given is not None:
            parse = quantity.cpu_millis if name == "cpu" else quantity.memory_bytes
            value = max(value, parse(given))
        return value

    cpu = sum(held(c, "cpu") for c in spec.get("containers") or [])
    mem = sum(held(c, "memory") for c in spec.get("containers") or [])
    for c in spec.get("initContainers") or []:
        cpu = max(cpu, req(c, "cpu"))
        mem = max(mem, req(c, "memory"))
    if uid:
        if len(_REQUESTS) > 200_000:
            _REQUESTS.clear()
        _REQUESTS[key] = (cpu, mem)
    return cpu, mem


def _occupies(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def _tolerates(tolerations: list[dict[str, Any]], taint: dict[str, Any]) -> bool:
    for tol in tolerations:
        if tol.get("effect") and tol.get("effect") != taint.get("effect"):
            continue
        if tol.get("operator") == "Exists":
            if not tol.get("key") or tol.get("key") == taint.get("key"):
                return True
        elif tol.get("key") == taint.get("key") and (tol.get("value") or "") == (
            taint.get("value") or ""
        ):
            return True
    return False


def _node_affinity_ok(pod: Obj, node: Obj) -> bool:
    spec = pod.get("spec") or {}
    labels = node["metadata"].get("labels") or {}
    for key, value in (spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    terms = required.get("nodeSelectorTerms") or []
    if not terms:
        return True
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
        for expr in term.get("matchFields") or []:
            field = node["metadata"].get("name") if expr.get("key") == "metadata.name" else None
            inside = field in (expr.get("values") or [])
            ok &= inside if expr.get("operator") == "In" else not inside
        if ok:
            return True
    return False


class Scheduler:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._failed: dict[
            str, tuple[float, tuple[Any, ...]]
        ] = {}  # pod uid -> (when, cluster key)

    def next_due(self) -> float | None:
        return min((when + RETRY_SECONDS for when, _ in self._failed.values()), default=None)

    def _nodes(self) -> list[_NodeInfo]:
        infos: dict[str, _NodeInfo] = {}
        for node in self.ctx.store.iter_refs(NODES):
            alloc = (
                (node.get("status") or {}).get("allocatable")
                or (node.get("status") or {}).get("capacity")
                or {}
            )
            infos[node["metadata"]["name"]] = _NodeInfo(
                name=node["metadata"]["name"],
                node=node,
                cpu=quantity.cpu_millis(alloc.get("cpu", "0")),
                memory=quantity.memory_bytes(alloc.get("memory", "0")),
                pods=int(quantity.parse(alloc.get("pods", "110"))),
            )
        for pod in self.ctx.store.iter_refs(PODS):
            node_name = (pod.get("spec") or {}).get("nodeName")
            if node_name in infos and _occupies(pod):
                infos[node_name].add(*pod_requests(pod))
        return sorted(infos.values(), key=lambda i: i.name)

    def reconcile(self, now: float) -> bool:
        pending = [
            p
            for p in self.ctx.store.iter_refs(PODS)
            if not (p.get("spec") or {}).get("nodeName")
            and not is_terminating(p)
            and (p.get("spec") or {}).get("schedulerName", "default-scheduler")
            == "default-scheduler"
            and (p.get("status") or {}).get("phase", "Pending") == "Pending"
        ]
        live = {p["metadata"]["uid"] for p in pending}
        for uid in list(self._failed):
            if uid not in live:
                del self._failed[uid]
        if not pending:
            return False
        nodes = self._nodes()
        claims: tuple[Any, ...] = tuple(
            sorted(
                (
                    c["metadata"].get("namespace", ""),
                    c["metadata"]["name"],
                    str(c["metadata"].get("resourceVersion")),
                )
                for c in self.ctx.store.iter_refs(PVCS)
            )
        )
        claims += tuple(
            sorted(
                ("", v["metadata"]["name"], str(v.get("spec")))
                for v in self.ctx.store.iter_refs(PVS)
            )
        )
        cluster_key = self._cluster_key(nodes, claims)
        # Oldest first, as the scheduling queue would (equal priority).
        pending.sort(
            key=lambda p: (
                -(p.get("spec") or {}).get("priority", 0) or 0,
                p["metadata"].get("creationTimestamp", ""),
                p["metadata"]["name"],
            )
        )
        changed = False
        for pod in pending:
            uid = pod["metadata"]["uid"]
            previous = self._failed.get(uid)
            if (
                previous is not None
                and previous[1] == cluster_key
                and now < previous[0] + RETRY_SECONDS
            ):
                continue
            chosen, message = self._schedule(pod, nodes)
            if chosen is None:
                self._failed[uid] = (now, cluster_key)
                changed |= self._unschedulable(pod, message, now)
                continue
            self._failed.pop(uid, None)
            if not volumes.prebind(self.ctx, pod, chosen.name):
                continue  # its volumes are being bound or provisioned for that node
            if self._bind(pod, chosen, now):
                chosen.add(*pod_requests(pod))
                cluster_key = self._cluster_key(nodes, claims)
                changed = True
        return changed

    @staticmethod
    def _cluster_key(nodes: list[_NodeInfo], claims: tuple[Any, ...]) -> tuple[Any, ...]:
        """What a failed pod waits to change (the scheduler's cluster events) before a retry."""
        return claims + tuple(
            (
                n.name,
                n.node["metadata"].get("resourceVersion"),
                n.used_cpu,
                n.used_memory,
                n.used_pods,
            )
            for n in nodes
        )

    def _prefilter(self, pod: Obj) -> str | None:
        return volumes.prefilter(self.ctx, pod)

    def _schedule(self, pod: Obj, nodes: list[_NodeInfo]) -> tuple[_NodeInfo | None, str]:
        total = len(nodes)
        if total == 0:
            return None, "no nodes available to schedule pods"
        pre = self._prefilter(pod)
        if pre is not None:
            return None, (
                f"0/{total} nodes are available: {pre}. preemption: 0/{total} nodes are "
                f"available: {total} {NOT_HELPFUL}.."
            )
        cpu, mem = pod_requests(pod)
        spec = pod.get("spec") or {}
        tolerations = spec.get("tolerations") or []
        reasons: Counter[str] = Counter()
        preemption: Counter[str] = Counter()
        feasible: list[_NodeInfo] = []
        for info in nodes:
            node = info.node
            node_reasons: list[str] = []
            resource_failure = False
            if (node.get("spec") or {}).get("unschedulable") and not _tolerates(
                tolerations, {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
            ):
                node_reasons = ["node(s) were unschedulable"]
            else:
                untolerated = [
                    t
                    for t in (node.get("spec") or {}).get("taints") or []
                    if t.get("effect") in ("NoSchedule", "NoExecute")
                    and not _tolerates(tolerations, t)
                ]
                if untolerated:
                    t = untolerated[0]
                    node_reasons = [
                        f"node(s) had untolerated taint {{{t.get('key')}: {t.get('value', '')}}}"
                    ]
                elif not _node_affinity_ok(pod, node):
                    node_reasons = ["node(s) didn't match Pod's node affinity/selector"]
                else:
                    if info.used_pods + 1 > info.pods:
                        node_reasons.append("Too many pods")
                    if cpu > 0 and info.used_cpu + cpu > info.cpu:
                        node_reasons.append("Insufficient cpu")
                    if mem > 0 and info.used_memory + mem > info.memory:
                        node_reasons.append("Insufficient memory")
                    resource_failure = bool(node_reasons)
                    if not node_reasons:
                        volume_problem = volumes.node_problem(self.ctx, pod, node)
                        node_reasons = [volume_problem] if volume_problem else []
            if node_reasons:
                reasons.update(node_reasons)
                preemption[NO_VICTIMS if resource_failure else NOT_HELPFUL] += 1
            else:
                feasible.append(info)
        if feasible:
            # NodeResourcesFit LeastAllocated with balanced spread: the emptiest node wins.
            def score(info: _NodeInfo) -> tuple[float, str]:
                want_cpu, want_mem = cpu or DEFAULT_CPU, mem or DEFAULT_MEMORY
                cpu_free = (info.cpu - info.score_cpu - want_cpu) / info.cpu if info.cpu else 0
                mem_free = (
                    (info.memory - info.score_memory - want_mem) / info.memory if info.memory else 0
                )
                return (-(cpu_free + mem_free), info.name)

            return min(feasible, key=score), ""
        histogram = ", ".join(sorted(f"{count} {reason}" for reason, count in reasons.items()))
        post = ", ".join(sorted(f"{count} {reason}" for reason, count in preemption.items()))
        return None, (
            f"0/{total} nodes are available: {histogram}. preemption: 0/{total} nodes are "
            f"available: {post}.."
        )

    def _unschedulable(self, pod: Obj, message: str, now: float) -> bool:
        meta = pod["metadata"]

        def change(current: Obj) -> None:
            status = current.setdefault("status", {})
            status.setdefault("phase", "Pending")
            conditions = status.setdefault("conditions", [])
            set_condition(
                conditions,
                "PodScheduled",
                "False",
                self.ctx.stamp(now),
                "Unschedulable",
                message,
                probe_time=True,
            )

        try:
            self.ctx.store.mutate(PODS, meta.get("namespace", ""), meta["name"], change)
        except NotFound:
            return False
        self.ctx.events.emit(pod, "Warning", "FailedScheduling", message, events.SCHEDULER, now)
        return True

    def _bind(self, pod: Obj, info: _NodeInfo, now: float) -> bool:
        meta = pod["metadata"]

        def change(current: Obj) -> None:
            current.setdefault("spec", {})["nodeName"] = info.name
            status = current.setdefault("status", {})
            conditions = status.setdefault("conditions", [])
            set_condition(conditions, "PodScheduled", "True", self.ctx.stamp(now), probe_time=True)

        try:
            bound = self.ctx.store.mutate(PODS, meta.get("namespace", ""), meta["name"], change)
        except NotFound:
            return False
        self.ctx.events.emit(
            bound,
            "Normal",
            "Scheduled",
            f"Successfully assigned {meta.get('namespace', '')}/{meta['name']} to {info.name}",
            events.SCHEDULER,
            now,
        )
        return True
