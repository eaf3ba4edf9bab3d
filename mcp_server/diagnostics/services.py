"""The Services that select a pod and their endpoint readiness, from EndpointSlices. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from policies.diagnosis import Issue, IssueType, ServiceInfo

from ._obj import Obj, clip, lst, m, s

SERVICE_LABEL = "kubernetes.io/service-name"
MAX_EMPTY = 10  # Services that select nothing, reported beside the pod's own


def _ready(endpoint: Obj) -> bool:
    # The API: a nil `ready` is to be read as ready.
    value = m(endpoint, "conditions").get("ready")
    return value is not False


def service_findings(
    pod: Obj, slices: Sequence[Obj]
) -> tuple[list[ServiceInfo], list[Issue], list[str]]:
    """Per Service with a slice in the namespace: its ready and not-ready endpoints and
    whether one of them is this pod. `ServiceNoReadyEndpoints` for a Service that selects
    the pod and has no ready endpoint at all (nothing serves it). Services whose selector
    matches no pod are listed beside them."""
    pod_name = s(pod, "metadata", "name") or ""
    pod_uid = s(pod, "metadata", "uid")
    namespace = s(pod, "metadata", "namespace") or ""
    by_service: dict[str, ServiceInfo] = {}
    for item in slices:
        name = m(item, "metadata", "labels").get(SERVICE_LABEL)
        if not isinstance(name, str) or not name:
            continue
        info = by_service.setdefault(name, ServiceInfo(name=name))
        for endpoint in lst(item, "endpoints"):
            ready = _ready(endpoint)
            if ready:
                info.ready_endpoints += 1
            else:
                info.not_ready_endpoints += 1
            ref = m(endpoint, "targetRef")
            if s(ref, "kind") == "Pod" and s(ref, "name") == pod_name:
                if pod_uid and s(ref, "uid") and s(ref, "uid") != pod_uid:
                    continue
                info.selects_pod = True
                info.pod_ready = ready
    selecting = [i for i in by_service.values() if i.selects_pod]
    empty = [
        i
        for i in by_service.values()
        if not i.selects_pod and i.ready_endpoints == 0 and i.not_ready_endpoints == 0
    ]
    issues: list[Issue] = []
    advice: list[str] = []
    for info in selecting:
        if info.ready_endpoints == 0:
            issues.append(
                Issue(
                    severity="warning",
                    type=IssueType.SERVICE_NO_READY_ENDPOINTS,
                    message=clip(
                        f"Service {info.name} selects this pod and has no ready endpoint "
                        f"({info.not_ready_endpoints} not ready): it serves nothing",
                        500,
                    ),
                )
            )
            advice.append(
                f"Service {info.name} has no ready endpoints: kubectl get endpointslices -l "
                f"{SERVICE_LABEL}={info.name} -n {namespace}; make its pods Ready"
            )
    for info in empty[:MAX_EMPTY]:
        advice.append(
            f"Service {info.name} selects no pod: compare its selector with the pods' labels "
            f"(kubectl describe service {info.name} -n {namespace})"
        )
    return selecting + empty[:MAX_EMPTY], issues, advice
