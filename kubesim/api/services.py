"""core/v1 Services (and the Endpoints / EndpointSlice kinds) as the 1.28 API server defaults,
validates and allocates them.

ClusterIPs come from the service CIDR 10.96.0.0/12 as the 1.28 allocator hands them out: a
requested address anywhere in the range (10.96.0.1 is the `kubernetes` Service's), otherwise a
random free one from above the range's static band (its first 256 addresses). NodePorts come
from 30000-32767. Headless Services (`clusterIP: None`) and ExternalName ones get no address.
"""

from __future__ import annotations

import ipaddress
import random
import re
from typing import Any

from kubesim.api.errors import invalid
from kubesim.store import SERVICES, Store

Obj = dict[str, Any]
Cause = tuple[str, str, str]

SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")
KUBERNETES_SERVICE_IP = "10.96.0.1"
STATIC_BAND = 256
NODE_PORTS = (30000, 32767)
TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
    "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
_SPEC_ORDER = (
    "ports",
    "selector",
    "clusterIP",
    "clusterIPs",
    "type",
    "externalIPs",
    "sessionAffinity",
    "loadBalancerIP",
    "loadBalancerSourceRanges",
    "externalName",
    "externalTrafficPolicy",
    "healthCheckNodePort",
    "publishNotReadyAddresses",
    "sessionAffinityConfig",
    "ipFamilies",
    "ipFamilyPolicy",
    "allocateLoadBalancerNodePorts",
    "loadBalancerClass",
    "internalTrafficPolicy",
)
_PORT_ORDER = ("name", "protocol", "appProtocol", "port", "targetPort", "nodePort")
_rng = random.Random()


def _ordered(obj: Obj, order: tuple[str, ...]) -> Obj:
    out = {k: obj[k] for k in order if k in obj}
    out.update({k: v for k, v in obj.items() if k not in out})
    return out


def default_service(svc: Obj) -> None:
    """SetDefaults_Service and the registry's IP family defaulting (single-stack IPv4)."""
    spec = svc.get("spec")
    if not isinstance(spec, dict):
        return
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["sessionAffinity"] == "ClientIP":
        config = spec.setdefault("sessionAffinityConfig", {}).setdefault("clientIP", {})
        config.setdefault("timeoutSeconds", 10800)
    ports = []
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if port.get("targetPort") in (None, 0, ""):
                port["targetPort"] = port.get("port")
            port = _ordered(port, _PORT_ORDER)
        ports.append(port)
    if "ports" in spec:
        spec["ports"] = ports
    kind = spec["type"]
    if kind != "ExternalName":
        if spec.get("clusterIP") and not spec.get("clusterIPs"):
            spec["clusterIPs"] = [spec["clusterIP"]]
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if kind in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if kind == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    reordered = _ordered(spec, _SPEC_ORDER)
    spec.clear()
    spec.update(reordered)


def default_ports(obj: Obj, *, named: bool) -> None:
    """Endpoints subsets' ports and EndpointSlice ports: protocol TCP (slices: name "")."""
    if obj.get("kind") == "EndpointSlice":
        for port in obj.get("ports") or []:
            if isinstance(port, dict):
                if named:
                    port.setdefault("name", "")
                port.setdefault("protocol", "TCP")
        return
    for subset in obj.get("subsets") or []:
        for port in (subset or {}).get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")


def service_causes(svc: Obj) -> list[Cause]:
    causes: list[Cause] = []
    name = str((svc.get("metadata") or {}).get("name") or "")
    if name and not _DNS1035.match(name) and re.match(r"^[a-z0-9.-]+$", name):
        causes.append(
            ("FieldValueInvalid", "metadata.name", f'Invalid value: "{name}": {DNS1035_MSG}')
        )
    spec = svc.get("spec")
    if not isinstance(spec, dict):
        return [*causes, ("FieldValueRequired", "spec.ports", "Required value")]
    kind = spec.get("type") or "ClusterIP"
    if kind not in TYPES:
        supported = ", ".join(f'"{t}"' for t in TYPES)
        causes.append(
            (
                "FieldValueNotSupported",
                "spec.type",
                f'Unsupported value: "{kind}": supported values: {supported}',
            )
        )
    ports = spec.get("ports") or []
    headless = spec.get("clusterIP") == "None"
    if not ports and kind != "ExternalName" and not headless:
        causes.append(("FieldValueRequired", "spec.ports", "Required value"))
    if kind == "ExternalName" and not spec.get("externalName"):
        causes.append(("FieldValueRequired", "spec.externalName", "Required value"))
    seen: set[str] = set()
    for i, port in enumerate(ports):
        where = f"spec.ports[{i}]"
        if not isinstance(port, dict):
            continue
        port_name = port.get("name") or ""
        if len(ports) > 1 and not port_name:
            causes.append(("FieldValueRequired", f"{where}.name", "Required value"))
        elif port_name in seen:
            causes.append(
                ("FieldValueDuplicate", f"{where}.name", f'Duplicate value: "{port_name}"')
            )
        seen.add(port_name)
        number = port.get("port")
        if not isinstance(number, int) or not 1 <= number <= 65535:
            causes.append(
                (
                    "FieldValueInvalid",
                    f"{where}.port",
                    f"Invalid value: {number}: must be between 1 and 65535, inclusive",
                )
            )
        protocol = port.get("protocol") or "TCP"
        if protocol not in ("TCP", "UDP", "SCTP"):
            causes.append(
                (
                    "FieldValueNotSupported",
                    f"{where}.protocol",
                    f'Unsupported value: "{protocol}": supported values: "SCTP", "TCP", "UDP"',
                )
            )
        target = port.get("targetPort")
        if isinstance(target, int) and not 1 <= target <= 65535:
            causes.append(
                (
                    "FieldValueInvalid",
                    f"{where}.targetPort",
                    f"Invalid value: {target}: must be between 1 and 65535, inclusive",
                )
            )
    return causes


def endpointslice_causes(eps: Obj) -> list[Cause]:
    address_type = eps.get("addressType")
    if not address_type:
        return [("FieldValueRequired", "addressType", "Required value")]
    if address_type not in ("IPv4", "IPv6", "FQDN"):
        return [
            (
                "FieldValueNotSupported",
                "addressType",
                f'Unsupported value: "{address_type}": supported values: "FQDN", "IPv4", "IPv6"',
            )
        ]
    return []


# -- allocation (create) and allocated values (update) -------------------------------------
def _used(store: Store, skip_uid: str | None) -> tuple[set[str], set[int]]:
    ips: set[str] = set()
    ports: set[int] = set()
    for svc in store.iter_refs(SERVICES):
        if skip_uid and svc["metadata"].get("uid") == skip_uid:
            continue
        spec = svc.get("spec") or {}
        ips.update(ip for ip in spec.get("clusterIPs") or [] if ip != "None")
        for port in spec.get("ports") or []:
            if isinstance(port.get("nodePort"), int):
                ports.add(port["nodePort"])
    return ips, ports


def _refuse(svc: Obj, field: str, message: str) -> None:
    raise invalid(
        "Service",
        "",
        str(svc["metadata"].get("name") or ""),
        [("FieldValueInvalid", field, message)],
    )


def _allocate_ip(svc: Obj, requested: str | None, used: set[str]) -> str:
    if requested:
        value = f'[]string{{"{requested}"}}'
        try:
            address = ipaddress.ip_address(requested)
        except ValueError:
            _refuse(
                svc,
                "spec.clusterIPs[0]",
                f'Invalid value: "{requested}": must be a valid IP address',
            )
        if address not in SERVICE_CIDR:
            _refuse(
                svc,
                "spec.clusterIPs",
                f"Invalid value: {value}: failed to allocate IP {requested}: the provided IP"
                f" ({requested}) is not in the valid range. The range of valid IPs is"
                f" {SERVICE_CIDR}",
            )
        if requested in used:
            _refuse(
                svc,
                "spec.clusterIPs",
                f"Invalid value: {value}: failed to allocate IP {requested}: provided IP is"
                " already allocated",
            )
        return requested
    base = int(SERVICE_CIDR.network_address)
    low, high = base + STATIC_BAND, int(SERVICE_CIDR.broadcast_address) - 1
    for _ in range(1000):
        candidate = str(ipaddress.ip_address(_rng.randint(low, high)))
        if candidate not in used:
            return candidate
    raise invalid("Service", "", str(svc["metadata"].get("name") or ""), [])  # pragma: no cover


def _allocate_node_ports(svc: Obj, spec: Obj, used: set[int]) -> None:
    low, high = NODE_PORTS
    for i, port in enumerate(spec.get("ports") or []):
        wanted = port.get("nodePort")
        if wanted:
            if not isinstance(wanted, int) or not low <= wanted <= high:
                _refuse(
                    svc,
                    f"spec.ports[{i}].nodePort",
                    f"Invalid value: {wanted}: provided port is not in the valid range. The"
                    f" range of valid ports is {low}-{high}",
                )
            if wanted in used:
                _refuse(
                    svc,
                    f"spec.ports[{i}].nodePort",
                    f"Invalid value: {wanted}: provided port is already allocated",
                )
        else:
            free = [p for p in range(low, high + 1) if p not in used]
            wanted = _rng.choice(free)
            port["nodePort"] = wanted
        used.add(wanted)
        spec["ports"][i] = _ordered(port, _PORT_ORDER)


def admit_service(store: Store, svc: Obj, current: Obj | None) -> None:
    """Allocate (create) or carry over (update) the ClusterIPs and NodePorts."""
    spec = svc.get("spec")
    if not isinstance(spec, dict):
        return
    kind = spec.get("type") or "ClusterIP"
    old = (current or {}).get("spec") or {}
    used_ips, used_ports = _used(store, (current or {}).get("metadata", {}).get("uid"))
    if kind == "ExternalName":
        spec.pop("clusterIP", None)
        spec.pop("clusterIPs", None)
    elif current is not None and old.get("clusterIP") and old.get("type") != "ExternalName":
        for key in ("clusterIP", "clusterIPs"):
            if not spec.get(key):
                spec[key] = old[key]
        if spec["clusterIP"] != old["clusterIP"] or spec["clusterIPs"] != old["clusterIPs"]:
            first = (spec.get("clusterIPs") or [spec["clusterIP"]])[0]
            _refuse(svc, "spec.clusterIPs[0]", f'Invalid value: "{first}": may not change once set')
    elif spec.get("clusterIP") == "None":
        spec["clusterIPs"] = ["None"]
    else:
        requested = spec.get("clusterIP") or None
        if requested is None and spec.get("clusterIPs"):
            requested = spec["clusterIPs"][0]
        address = _allocate_ip(svc, requested, used_ips)
        spec["clusterIP"] = address
        spec["clusterIPs"] = [address]
    if kind in ("NodePort", "LoadBalancer"):
        if current is not None:
            old_ports = {
                (p.get("port"), p.get("protocol")): p.get("nodePort")
                for p in old.get("ports") or []
            }
            for port in spec.get("ports") or []:
                if not port.get("nodePort"):
                    carried = old_ports.get((port.get("port"), port.get("protocol")))
                    if carried:
                        port["nodePort"] = carried
        _allocate_node_ports(svc, spec, used_ports)
    else:
        for port in spec.get("ports") or []:
            port.pop("nodePort", None)
    reordered = _ordered(spec, _SPEC_ORDER)
    spec.clear()
    spec.update(reordered)


def kubernetes_service() -> Obj:
    """The `default/kubernetes` Service the API server keeps (port 443 -> 6443)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "labels": {"component": "apiserver", "provider": "kubernetes"},
        },
        "spec": {
            "ports": [{"name": "https", "protocol": "TCP", "port": 443, "targetPort": 6443}],
            "clusterIP": KUBERNETES_SERVICE_IP,
        },
    }
