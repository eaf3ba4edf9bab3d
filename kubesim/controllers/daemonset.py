"""DaemonSet controller (kube-controller-manager 1.28, pkg/controller/daemon).

One pod per eligible node: the template's `nodeName`, `nodeSelector` and required node affinity
must match the node, and its taints with effect NoSchedule or NoExecute must be tolerated by the
template's tolerations plus the ones the controller adds to every daemon pod (`not-ready` and
`unreachable` NoExecute without `tolerationSeconds`; `disk-pressure`, `memory-pressure`,
`pid-pressure`, `unschedulable` NoSchedule; `network-unavailable` with `hostNetwork`). A pod
already running on a node whose NoSchedule taint it does not tolerate stays; an untolerated
NoExecute taint removes it. Pods are `<ds>-<5 chars>`, pinned to their node by a required
`matchFields` `metadata.name In [node]` node affinity and placed by the scheduler; labels
`controller-revision-hash` (the revision's hash) and `pod-template-generation`.
`RollingUpdate` replaces old pods node by node within `maxUnavailable` (delete, then create;
with `maxSurge` > 0 the new pod first), `OnDelete` only when someone deletes them. Status:
desiredNumberScheduled, currentNumberScheduled, numberMisscheduled, numberReady,
updatedNumberScheduled, numberAvailable, numberUnavailable, observedGeneration.
"""

from __future__ import annotations

import copy
from typing import Any

from kubesim.controllers.base import (
    Context,
    delete_pod,
    is_terminating,
    owned_by,
    owner_reference,
    pod_is_available,
    pod_is_ready,
    write_status,
)
from kubesim.controllers.deployment import resolve_intstr, template_hash
from kubesim.controllers.events import Source
from kubesim.controllers.revisions import DS_HASH_LABEL, sync_revisions, truncate_history
from kubesim.controllers.scheduler import _node_affinity_ok, _tolerates
from kubesim.store import DAEMONSETS, NODES, PODS, AlreadyExists, Obj

try:  # the API server's defaulting, so controller-made pods look like client-made ones
    from kubesim.api.defaults import apply_defaults, initial_status
except ImportError:  # pragma: no cover - the API package is optional for the controllers
    apply_defaults = None  # type: ignore[assignment]
    initial_status = None  # type: ignore[assignment]

DAEMONSET = Source("daemonset-controller")
GENERATION_LABEL = "pod-template-generation"
TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"
# util.AddOrUpdateDaemonPodTolerations, in its order.
DAEMON_TOLERATIONS: tuple[dict[str, str], ...] = (
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
)
NETWORK_UNAVAILABLE = {
    "key": "node.kubernetes.io/network-unavailable",
    "operator": "Exists",
    "effect": "NoSchedule",
}


def daemon_tolerations(template_spec: Obj) -> list[dict[str, Any]]:
    """The template's tolerations with the controller's own added (or updated in place)."""
    tolerations = [dict(t) for t in template_spec.get("tolerations") or []]
    extra = list(DAEMON_TOLERATIONS)
    if template_spec.get("hostNetwork"):
        extra.append(NETWORK_UNAVAILABLE)
    for tol in extra:
        for i, existing in enumerate(tolerations):
            same = all(
                existing.get(k, "") == tol.get(k, "") for k in ("key", "operator", "effect")
            ) and not existing.get("value")
            if same:
                tolerations[i] = dict(tol)
                break
        else:
            tolerations.append(dict(tol))
    return tolerations


def node_affinity_for(affinity: Obj | None, node: str) -> Obj:
    """ReplaceDaemonSetPodNodeNameNodeAffinity: the required terms become `metadata.name In
    [node]`; the rest of the affinity stays."""
    result = copy.deepcopy(affinity) if affinity else {}
    node_affinity = result.setdefault("nodeAffinity", {})
    required = node_affinity.setdefault("requiredDuringSchedulingIgnoredDuringExecution", {})
    required["nodeSelectorTerms"] = [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
    ]
    return result


def target_node(pod: Obj) -> str | None:
    """util.GetTargetNodeName: the node a daemon pod runs on or is pinned to."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    for term in required.get("nodeSelectorTerms") or []:
        for field in term.get("matchFields") or []:
            values = field.get("values") or []
            if field.get("key") == "metadata.name" and field.get("operator") == "In" and values:
                return str(values[0])
    return None


def should_run(ds: Obj, node: Obj) -> tuple[bool, bool]:
    """NodeShouldRunDaemonPod: (should run, should continue running)."""
    template_spec = ((ds.get("spec") or {}).get("template") or {}).get("spec") or {}
    name = node["metadata"]["name"]
    if template_spec.get("nodeName") and template_spec["nodeName"] != name:
        return False, False
    probe: Obj = {
        "spec": {
            "nodeSelector": template_spec.get("nodeSelector"),
            "affinity": template_spec.get("affinity"),
        }
    }
    if not _node_affinity_ok(probe, node):
        return False, False
    tolerations = daemon_tolerations(template_spec)
    taints = (node.get("spec") or {}).get("taints") or []
    untolerated = [
        t
        for t in taints
        if t.get("effect") in ("NoSchedule", "NoExecute") and not _tolerates(tolerations, t)
    ]
    if untolerated:
        return False, not any(t.get("effect") == "NoExecute" for t in untolerated)
    return True, True


def _oldest_first(pods: list[Obj]) -> list[Obj]:
    return sorted(
        pods,
        key=lambda p: (
            0 if (p.get("spec") or {}).get("nodeName") else 1,
            p["metadata"].get("creationTimestamp", ""),
            p["metadata"]["name"],
        ),
    )


class DaemonSetController:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def next_due(self) -> float | None:
        return None  # minReadySeconds is picked up on the kubelet's ticks

    def reconcile(self, now: float) -> bool:
        changed = False
        pods_by_ns: dict[str, list[Obj]] = {}
        for pod in self.ctx.store.iter_refs(PODS):
            pods_by_ns.setdefault(pod["metadata"].get("namespace", ""), []).append(pod)
        nodes = sorted(self.ctx.store.iter_refs(NODES), key=lambda n: n["metadata"]["name"])
        for ds in list(self.ctx.store.iter_refs(DAEMONSETS)):
            if is_terminating(ds):
                continue
            namespace = ds["metadata"].get("namespace", "")
            owned = [p for p in pods_by_ns.get(namespace, []) if owned_by(p, ds)]
            changed |= self._sync(ds, owned, nodes, now)
        return changed

    # -- one daemon set --------------------------------------------------------------------
    def _sync(self, ds: Obj, owned: list[Obj], nodes: list[Obj], now: float) -> bool:
        before = self.ctx.store.resource_version
        template = (ds.get("spec") or {}).get("template") or {}
        revision, revisions, collisions = sync_revisions(
            self.ctx, ds, DS_HASH_LABEL, lambda _data, count: template_hash(template, count)
        )
        digest = str((revision["metadata"].get("labels") or {}).get(DS_HASH_LABEL, ""))
        generation = str(((ds["metadata"].get("annotations") or {}).get(TEMPLATE_GENERATION)) or "")
        by_node: dict[str, list[Obj]] = {}
        for pod in owned:
            node = target_node(pod)
            if node is not None:
                by_node.setdefault(node, []).append(pod)
        if not self._manage(ds, by_node, nodes, digest, generation, now):
            self._rolling(ds, by_node, nodes, digest, generation, now)
        pods = [
            p
            for p in self.ctx.store.iter_refs(PODS, ds["metadata"].get("namespace", ""))
            if owned_by(p, ds)
        ]
        live = {revision["metadata"]["name"]}
        live |= {
            f"{ds['metadata']['name']}-{(p['metadata'].get('labels') or {}).get(DS_HASH_LABEL)}"
            for p in pods
        }
        truncate_history(self.ctx, ds, revisions, live)
        self._status(ds, pods, nodes, digest, generation, collisions, now)
        return self.ctx.store.resource_version != before

    @staticmethod
    def _updated(pod: Obj, digest: str, generation: str) -> bool:
        labels = pod["metadata"].get("labels") or {}
        return bool(
            (generation and labels.get(GENERATION_LABEL) == generation)
            or (digest and labels.get(DS_HASH_LABEL) == digest)
        )

    def _manage(
        self,
        ds: Obj,
        by_node: dict[str, list[Obj]],
        nodes: list[Obj],
        digest: str,
        generation: str,
        now: float,
    ) -> bool:
        surge = self._max_surge(ds, nodes) > 0
        create: list[str] = []
        doomed: list[Obj] = []
        names = set()
        for node in nodes:
            name = node["metadata"]["name"]
            names.add(name)
            run, keep = should_run(ds, node)
            pods = by_node.get(name, [])
            if run and not pods:
                create.append(name)
            elif keep:
                running = []
                for pod in pods:
                    if is_terminating(pod):
                        continue
                    if (pod.get("status") or {}).get("phase") == "Failed":
                        doomed.append(pod)
                        continue
                    running.append(pod)
                running = _oldest_first(running)
                if not surge:
                    doomed.extend(running[1:])
                else:
                    newest: Obj | None = None
                    oldest: Obj | None = None
                    for pod in running:
                        if self._updated(pod, digest, generation):
                            if newest is None:
                                newest = pod
                                continue
                        elif oldest is None:
                            oldest = pod
                            continue
                        doomed.append(pod)
            elif pods:
                doomed.extend(p for p in pods if not is_terminating(p))
        for node_name, pods in by_node.items():
            if node_name not in names:  # pinned to a node that is gone
                doomed.extend(
                    p
                    for p in pods
                    if not (p.get("spec") or {}).get("nodeName") and not is_terminating(p)
                )
        return self._sync_nodes(ds, doomed, create, digest, generation, now)

    def _sync_nodes(
        self,
        ds: Obj,
        doomed: list[Obj],
        create: list[str],
        digest: str,
        generation: str,
        now: float,
    ) -> bool:
        changed = False
        for pod in doomed:
            if delete_pod(self.ctx, pod, now):
                self.ctx.events.emit(
                    ds,
                    "Normal",
                    "SuccessfulDelete",
                    f"Deleted pod: {pod['metadata']['name']}",
                    DAEMONSET,
                    now,
                )
                changed = True
        for node in create:
            changed |= self._create(ds, node, digest, generation, now)
        return changed

    def _create(self, ds: Obj, node: str, digest: str, generation: str, now: float) -> bool:
        template = copy.deepcopy((ds.get("spec") or {}).get("template") or {})
        tmeta = template.get("metadata") or {}
        labels = dict(tmeta.get("labels") or {})
        labels[DS_HASH_LABEL] = digest
        if generation:
            labels[GENERATION_LABEL] = generation
        ds_name = ds["metadata"]["name"]
        name = f"{ds_name}-{self.ctx.random_suffix()}"
        meta: dict[str, Any] = {
            "name": name,
            "generateName": f"{ds_name}-",
            "namespace": ds["metadata"].get("namespace", "default"),
            "labels": labels,
            "ownerReferences": [owner_reference(ds)],
        }
        if tmeta.get("annotations"):
            meta["annotations"] = dict(tmeta["annotations"])
        spec = template.get("spec") or {}
        spec["affinity"] = node_affinity_for(spec.get("affinity"), node)
        spec["tolerations"] = daemon_tolerations(spec)
        pod: Obj = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
        if apply_defaults is not None and initial_status is not None:
            apply_defaults("Pod", pod, self.ctx.kube)
            pod["status"] = initial_status("Pod", pod) or {"phase": "Pending"}
        else:
            pod["status"] = {"phase": "Pending"}
        try:
            self.ctx.store.create(PODS, pod)
        except AlreadyExists:
            return False  # a name clash: the next pass tries another suffix
        self.ctx.events.emit(
            ds, "Normal", "SuccessfulCreate", f"Created pod: {name}", DAEMONSET, now
        )
        return True

    # -- rolling update --------------------------------------------------------------------
    def _desired(self, ds: Obj, nodes: list[Obj]) -> int:
        return sum(1 for n in nodes if should_run(ds, n)[0])

    def _max_surge(self, ds: Obj, nodes: list[Obj]) -> int:
        strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
        if strategy.get("type") != "RollingUpdate":
            return 0
        rolling = strategy.get("rollingUpdate") or {}
        return resolve_intstr(rolling.get("maxSurge"), self._desired(ds, nodes), True)

    def _rolling(
        self,
        ds: Obj,
        by_node: dict[str, list[Obj]],
        nodes: list[Obj],
        digest: str,
        generation: str,
        now: float,
    ) -> bool:
        spec = ds.get("spec") or {}
        strategy = spec.get("updateStrategy") or {}
        if strategy.get("type") != "RollingUpdate":
            return False
        rolling = strategy.get("rollingUpdate") or {}
        desired = self._desired(ds, nodes)
        max_surge = resolve_intstr(rolling.get("maxSurge"), desired, True)
        max_unavailable = resolve_intstr(rolling.get("maxUnavailable"), desired, True)
        if max_surge == 0 and max_unavailable == 0:
            max_unavailable = 1
        min_ready = int(spec.get("minReadySeconds") or 0)

        def available(pod: Obj) -> bool:
            return pod_is_available(self.ctx, pod, min_ready, now)

        eligible = {n["metadata"]["name"] for n in nodes if should_run(ds, n)[0]}
        doomed: list[Obj] = []
        create: list[str] = []
        if max_surge == 0:
            unavailable = 0
            replace: list[Obj] = []
            candidates: list[Obj] = []
            for node in sorted(eligible):
                found = self._pods_on_node(by_node.get(node, []), digest, generation)
                if found is None:
                    unavailable += 1
                    continue
                new, old = found
                if (new is None) == (old is None):
                    unavailable += 1
                elif new is not None:
                    if not available(new):
                        unavailable += 1
                elif old is not None:
                    if not available(old):
                        replace.append(old)
                    elif unavailable < max_unavailable:
                        candidates.append(old)
            room = min(max(max_unavailable - unavailable, 0), len(candidates))
            doomed = replace + candidates[:room]
        else:
            surged = 0
            allowed: list[str] = []
            candidate_nodes: list[str] = []
            for node in sorted(eligible):
                found = self._pods_on_node(by_node.get(node, []), digest, generation)
                if found is None:
                    surged += 1
                    continue
                new, old = found
                if old is None:
                    continue
                if new is None:
                    if not available(old):
                        allowed.append(node)
                    elif surged < max_surge:
                        candidate_nodes.append(node)
                elif not available(new):
                    surged += 1
                else:
                    doomed.append(old)
            room = min(max(max_surge - surged, 0), len(candidate_nodes))
            create = allowed + candidate_nodes[:room]
        return self._sync_nodes(ds, doomed, create, digest, generation, now)

    def _pods_on_node(
        self, pods: list[Obj], digest: str, generation: str
    ) -> tuple[Obj | None, Obj | None] | None:
        """findUpdatedPodsOnNode: (new, old) among live pods; None for two of a kind."""
        new: Obj | None = None
        old: Obj | None = None
        for pod in pods:
            if is_terminating(pod):
                continue
            if self._updated(pod, digest, generation):
                if new is not None:
                    return None
                new = pod
            else:
                if old is not None:
                    return None
                old = pod
        return new, old

    # -- status ----------------------------------------------------------------------------
    def _status(
        self,
        ds: Obj,
        pods: list[Obj],
        nodes: list[Obj],
        digest: str,
        generation: str,
        collisions: int,
        now: float,
    ) -> bool:
        min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
        by_node: dict[str, list[Obj]] = {}
        for pod in pods:
            pinned = target_node(pod)
            terminal = (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
            if pinned is not None and not (terminal and is_terminating(pod)):
                by_node.setdefault(pinned, []).append(pod)
        desired = current = misscheduled = ready = available = updated = 0
        for node in nodes:
            run, _ = should_run(ds, node)
            scheduled = by_node.get(node["metadata"]["name"], [])
            if run:
                desired += 1
                if not scheduled:
                    continue
                current += 1
                pod = _oldest_first(scheduled)[0]
                if pod_is_ready(pod):
                    ready += 1
                    if pod_is_available(self.ctx, pod, min_ready, now):
                        available += 1
                if self._updated(pod, digest, generation):
                    updated += 1
            elif scheduled:
                misscheduled += 1
        status: dict[str, Any] = {
            "currentNumberScheduled": current,
            "numberMisscheduled": misscheduled,
            "desiredNumberScheduled": desired,
            "numberReady": ready,
        }
        if ds["metadata"].get("generation"):
            status["observedGeneration"] = ds["metadata"]["generation"]
        for key, value in (
            ("updatedNumberScheduled", updated),
            ("numberAvailable", available),
            ("numberUnavailable", desired - available),
        ):
            if value:
                status[key] = value
        if collisions:
            status["collisionCount"] = collisions
        old = ds.get("status") or {}
        if old.get("conditions"):
            status["conditions"] = old["conditions"]
        fresh = self.ctx.store.peek(
            DAEMONSETS, ds["metadata"].get("namespace", ""), ds["metadata"]["name"]
        )
        if fresh is None or fresh["metadata"].get("uid") != ds["metadata"].get("uid"):
            return False
        return write_status(self.ctx, DAEMONSETS, fresh, status)
