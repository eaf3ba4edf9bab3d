"""EndpointSlice and Endpoints controllers (kube-controller-manager 1.28) for Services with a
selector.

One EndpointSlice per Service (`<service>-<5 chars>`, labels `kubernetes.io/service-name`,
`endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io`, plus
`service.kubernetes.io/headless` for headless ones; the Service as controlling owner): an
endpoint per selected pod that has an IP and may still serve (not Failed, nor Succeeded under
`restartPolicy: Never` / `OnFailure`), with `conditions.ready` (Ready and not terminating),
`serving` (Ready), `terminating`, `targetRef`, `nodeName`, `zone` (the node's
`topology.kubernetes.io/zone`) and `hostname` (a pod whose `subdomain` is the Service). Ports
are the Service's with `targetPort` resolved (named ports through the pods' container ports).
A Service that selects nothing has a slice with no endpoints.

The legacy Endpoints object of the same name lists ready pods under `addresses` and the others
(terminating ones left out) under `notReadyAddresses`, sorted by IP.
"""

from __future__ import annotations

from typing import Any

from kubesim.controllers.base import Context, is_terminating, owner_reference, pod_is_ready
from kubesim.store import ENDPOINTS, ENDPOINTSLICES, NODES, PODS, SERVICES, NotFound, Obj

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"
HEADLESS_LABEL = "service.kubernetes.io/headless"
TRIGGER_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"
ZONE_LABEL = "topology.kubernetes.io/zone"


def _selects(selector: dict[str, str], pod: Obj) -> bool:
    labels = pod["metadata"].get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


def _may_serve(pod: Obj) -> bool:
    """ShouldPodBeInEndpoints (terminating pods included: the slices mark them)."""
    status = pod.get("status") or {}
    if not status.get("podIP"):
        return False
    phase = status.get("phase")
    policy = (pod.get("spec") or {}).get("restartPolicy") or "Always"
    if policy == "Never":
        return phase not in ("Failed", "Succeeded")
    if policy == "OnFailure":
        return phase != "Succeeded"
    return True


def _resolve(port: Obj, pod: Obj | None) -> int | None:
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    if pod is None:
        return None
    for container in (pod.get("spec") or {}).get("containers") or []:
        for cport in container.get("ports") or []:
            if cport.get("name") == target and cport.get("protocol", "TCP") == port.get(
                "protocol", "TCP"
            ):
                return int(cport.get("containerPort"))
    return None


def _ports(svc: Obj, pod: Obj | None) -> list[Obj]:
    out: list[Obj] = []
    for port in (svc.get("spec") or {}).get("ports") or []:
        number = _resolve(port, pod)
        if number is None:
            continue
        entry: Obj = {"name": port.get("name") or "", "protocol": port.get("protocol") or "TCP"}
        entry["port"] = number
        if port.get("appProtocol"):
            entry["appProtocol"] = port["appProtocol"]
        out.append(entry)
    return out


class EndpointSliceController:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def next_due(self) -> float | None:
        return None

    def reconcile(self, now: float) -> bool:
        changed = False
        pods_by_ns: dict[str, list[Obj]] = {}
        for pod in self.ctx.store.iter_refs(PODS):
            pods_by_ns.setdefault(pod["metadata"].get("namespace", ""), []).append(pod)
        slices: dict[tuple[str, str], list[Obj]] = {}
        for eps in self.ctx.store.iter_refs(ENDPOINTSLICES):
            labels = eps["metadata"].get("labels") or {}
            if labels.get(MANAGED_BY_LABEL) != MANAGED_BY or SERVICE_NAME_LABEL not in labels:
                continue
            key = (eps["metadata"].get("namespace", ""), labels[SERVICE_NAME_LABEL])
            slices.setdefault(key, []).append(eps)
        zones = {
            n["metadata"]["name"]: (n["metadata"].get("labels") or {}).get(ZONE_LABEL)
            for n in self.ctx.store.iter_refs(NODES)
        }
        services: set[tuple[str, str]] = set()
        for svc in list(self.ctx.store.iter_refs(SERVICES)):
            namespace = svc["metadata"].get("namespace", "")
            spec = svc.get("spec") or {}
            selector = spec.get("selector")
            if not selector or spec.get("type") == "ExternalName":
                continue
            services.add((namespace, svc["metadata"]["name"]))
            pods = sorted(
                (
                    p
                    for p in pods_by_ns.get(namespace, [])
                    if _selects(selector, p) and _may_serve(p)
                ),
                key=lambda p: p["metadata"]["name"],
            )
            trigger = self._trigger(svc, pods)
            existing = slices.get((namespace, svc["metadata"]["name"]), [])
            changed |= self._sync_slice(svc, pods, existing, zones, trigger, now)
            changed |= self._sync_endpoints(svc, pods, trigger)
        for key, leftovers in slices.items():
            if key not in services:
                for eps in leftovers:
                    changed |= self._delete(ENDPOINTSLICES, eps)
        for ep in list(self.ctx.store.iter_refs(ENDPOINTS)):
            key = (ep["metadata"].get("namespace", ""), ep["metadata"]["name"])
            annotations = ep["metadata"].get("annotations") or {}
            if key not in services and TRIGGER_ANNOTATION in annotations:
                svc_obj = self.ctx.store.peek(SERVICES, *key)
                if svc_obj is None or not (svc_obj.get("spec") or {}).get("selector"):
                    changed |= self._delete(ENDPOINTS, ep)
        return changed

    def _trigger(self, svc: Obj, pods: list[Obj]) -> str:
        """The latest change a slice reflects: the Service's creation, a pod's creation, its
        readiness flipping or its deletion starting."""
        stamps = [svc["metadata"].get("creationTimestamp") or ""]
        for pod in pods:
            stamps.append(pod["metadata"].get("creationTimestamp") or "")
            stamps.append(pod["metadata"].get("deletionTimestamp") or "")
            for cond in (pod.get("status") or {}).get("conditions") or []:
                if cond.get("type") == "Ready":
                    stamps.append(cond.get("lastTransitionTime") or "")
        return max(stamps)

    def _endpoint(self, svc: Obj, pod: Obj, zones: dict[str, str | None]) -> Obj:
        spec = pod.get("spec") or {}
        terminating = is_terminating(pod)
        ready = pod_is_ready(pod)
        endpoint: Obj = {
            "addresses": [pod["status"]["podIP"]],
            "conditions": {
                "ready": ready and not terminating,
                "serving": ready,
                "terminating": terminating,
            },
        }
        if spec.get("hostname") and spec.get("subdomain") == svc["metadata"]["name"]:
            endpoint["hostname"] = spec["hostname"]
        endpoint["targetRef"] = {
            "kind": "Pod",
            "namespace": pod["metadata"].get("namespace", ""),
            "name": pod["metadata"]["name"],
            "uid": pod["metadata"]["uid"],
        }
        node = spec.get("nodeName")
        if node:
            endpoint["nodeName"] = node
            zone = zones.get(node)
            if zone:
                endpoint["zone"] = zone
        return endpoint

    def _sync_slice(
        self,
        svc: Obj,
        pods: list[Obj],
        existing: list[Obj],
        zones: dict[str, str | None],
        trigger: str,
        now: float,
    ) -> bool:
        meta = svc["metadata"]
        namespace, name = meta.get("namespace", ""), meta["name"]
        headless = (svc.get("spec") or {}).get("clusterIP") == "None"
        labels = dict(meta.get("labels") or {})
        labels[MANAGED_BY_LABEL] = MANAGED_BY
        labels[SERVICE_NAME_LABEL] = name
        if headless:
            labels[HEADLESS_LABEL] = ""
        labels = dict(sorted(labels.items()))
        current = existing[0] if existing else None
        changed = False
        for extra in existing[1:]:
            changed |= self._delete(ENDPOINTSLICES, extra)
        fresh = {p["metadata"]["uid"]: self._endpoint(svc, p, zones) for p in pods}
        endpoints: list[Obj] = []
        for old in (current or {}).get("endpoints") or []:
            uid = (old.get("targetRef") or {}).get("uid")
            if uid in fresh:
                endpoints.append(fresh.pop(uid))
        endpoints.extend(fresh.values())
        ports = _ports(svc, pods[0]) if pods else []
        body: Obj = {
            "addressType": "IPv4",
            "endpoints": endpoints or None,
            "ports": ports or None,
        }
        if current is None:
            slice_obj: Obj = {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": f"{name}-{self.ctx.random_suffix()}",
                    "generateName": f"{name}-",
                    "namespace": namespace,
                    "labels": labels,
                    "annotations": {TRIGGER_ANNOTATION: trigger},
                    "ownerReferences": [owner_reference(svc)],
                },
                **body,
            }
            try:
                self.ctx.store.create(ENDPOINTSLICES, slice_obj)
            except Exception:  # noqa: BLE001 - a name clash: the next pass picks another suffix
                return changed
            return True
        same = all(current.get(k) == v for k, v in body.items())
        if same and (current["metadata"].get("labels") or {}) == labels:
            return changed

        def update(obj: Obj) -> None:
            obj.update(body)
            obj["metadata"]["labels"] = labels
            annotations = obj["metadata"].setdefault("annotations", {})
            annotations[TRIGGER_ANNOTATION] = trigger

        try:
            self.ctx.store.mutate(ENDPOINTSLICES, namespace, current["metadata"]["name"], update)
        except NotFound:
            return changed
        return True

    def _sync_endpoints(self, svc: Obj, pods: list[Obj], trigger: str) -> bool:
        meta = svc["metadata"]
        namespace, name = meta.get("namespace", ""), meta["name"]
        publish = bool((svc.get("spec") or {}).get("publishNotReadyAddresses"))
        ready: list[Obj] = []
        not_ready: list[Obj] = []
        for pod in pods:
            if is_terminating(pod) and not publish:
                continue
            address: Obj = {"ip": pod["status"]["podIP"]}
            spec = pod.get("spec") or {}
            if spec.get("hostname") and spec.get("subdomain") == name:
                address["hostname"] = spec["hostname"]
            if spec.get("nodeName"):
                address["nodeName"] = spec["nodeName"]
            address["targetRef"] = {
                "kind": "Pod",
                "namespace": pod["metadata"].get("namespace", ""),
                "name": pod["metadata"]["name"],
                "uid": pod["metadata"]["uid"],
            }
            (ready if publish or pod_is_ready(pod) else not_ready).append(address)
        subsets: list[Obj] = []
        if ready or not_ready:
            subset: Obj = {}
            if ready:
                subset["addresses"] = sorted(ready, key=lambda a: _ip_key(a["ip"]))
            if not_ready:
                subset["notReadyAddresses"] = sorted(not_ready, key=lambda a: _ip_key(a["ip"]))
            ports = [
                {"name": p["name"], "port": p["port"], "protocol": p["protocol"]}
                if p["name"]
                else {"port": p["port"], "protocol": p["protocol"]}
                for p in _ports(svc, pods[0] if pods else None)
            ]
            if ports:
                subset["ports"] = ports
            subsets.append(subset)
        labels = dict(meta.get("labels") or {})
        if (svc.get("spec") or {}).get("clusterIP") == "None":
            labels[HEADLESS_LABEL] = ""
        current = self.ctx.store.peek(ENDPOINTS, namespace, name)
        if current is None:
            ep_meta: Obj = {"name": name, "namespace": namespace}
            if labels:
                ep_meta["labels"] = dict(sorted(labels.items()))
            ep_meta["annotations"] = {TRIGGER_ANNOTATION: trigger}
            ep: Obj = {"apiVersion": "v1", "kind": "Endpoints", "metadata": ep_meta}
            if subsets:
                ep["subsets"] = subsets
            try:
                self.ctx.store.create(ENDPOINTS, ep)
            except Exception:  # noqa: BLE001 - created meanwhile: the next pass updates it
                return False
            return True
        if (current.get("subsets") or []) == subsets and (
            current["metadata"].get("labels") or {}
        ) == labels:
            return False

        def update(obj: Obj) -> None:
            if subsets:
                obj["subsets"] = subsets
            else:
                obj.pop("subsets", None)
            if labels:
                obj["metadata"]["labels"] = dict(sorted(labels.items()))
            else:
                obj["metadata"].pop("labels", None)
            obj["metadata"].setdefault("annotations", {})[TRIGGER_ANNOTATION] = trigger

        try:
            self.ctx.store.mutate(ENDPOINTS, namespace, name, update)
        except NotFound:
            return False
        return True

    def _delete(self, rtype: Any, obj: Obj) -> bool:
        try:
            self.ctx.store.delete(
                rtype, obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
            )
        except NotFound:
            return False
        return True


def _ip_key(ip: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in ip.split("."))
    except ValueError:
        return (0,)
