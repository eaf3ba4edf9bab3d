"""Table printers for Jobs, CronJobs, Services, Endpoints and EndpointSlices, with the columns
and cells kube-apiserver 1.28's printers give them (pkg/printers/internalversion)."""

from __future__ import annotations

from typing import Any

from kubesim.api.tables import (
    _AGE_DOC,
    _NAME_DOC,
    Column,
    Row,
    _Ages,
    _parse_time,
    format_selector,
    human_duration,
)

Obj = dict[str, Any]

# Column descriptions as the recorded Tables carry them (the types' swagger docs).
JOB_COMPLETIONS = "The number of pods which reached phase Succeeded."
JOB_DURATION = "Time required to complete the job."
JOB_CONTAINERS = "Names of each container in the template."
JOB_IMAGES = "Images referenced by each container in the template."
JOB_SELECTOR = (
    "A label query over pods that should match the pod count. Normally, the system sets this "
    "field for you. More info: https://kubernetes.io/docs/concepts/overview/working-with-obje"
    "cts/labels/#label-selectors"
)
CRONJOB_SCHEDULE = "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron."
CRONJOB_SUSPEND = (
    "This flag tells the controller to suspend subsequent executions, it does not apply to al"
    "ready started executions.  Defaults to false."
)
CRONJOB_ACTIVE = "A list of pointers to currently running jobs."
CRONJOB_LAST_SCHEDULE = "Information when was the last time the job was successfully scheduled."
SERVICE_TYPE = (
    "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are Ext"
    'ernalName, ClusterIP, NodePort, and LoadBalancer. "ClusterIP" allocates a cluster-intern'
    "al IP address for load-balancing to endpoints. Endpoints are determined by the selector "
    "or if that is not specified, by manual construction of an Endpoints object or EndpointSl"
    'ice objects. If clusterIP is "None", no virtual IP is allocated and the endpoints are pu'
    'blished as a set of endpoints rather than a virtual IP. "NodePort" builds on ClusterIP a'
    'nd allocates a port on every node which routes to the same endpoints as the clusterIP. "'
    'LoadBalancer" builds on NodePort and creates an external load-balancer (if supported in '
    'the current cloud) which routes to the same endpoints as the clusterIP. "ExternalName" a'
    "liases this service to the specified externalName. Several other fields do not apply to "
    "ExternalName services. More info: https://kubernetes.io/docs/concepts/services-networkin"
    "g/service/#publishing-services-service-types"
)
SERVICE_CLUSTER_IP = (
    "clusterIP is the IP address of the service and is usually assigned randomly. If an addre"
    "ss is specified manually, is in-range (as per system configuration), and is not in use, "
    "it will be allocated to the service; otherwise creation of the service will fail. This f"
    "ield may not be changed through updates unless the type field is also being changed to E"
    "xternalName (which requires this field to be blank) or the type field is being changed f"
    "rom ExternalName (in which case this field may optionally be specified, as describe abov"
    'e).  Valid values are "None", empty string (""), or a valid IP address. Setting this to '
    '"None" makes a "headless service" (no virtual IP), which is useful when direct endpoint '
    "connections are preferred and proxying is not required.  Only applies to types ClusterIP"
    ", NodePort, and LoadBalancer. If this field is specified when creating a Service of type"
    " ExternalName, creation will fail. This field will be wiped when updating a Service to t"
    "ype ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/ser"
    "vice/#virtual-ips-and-service-proxies"
)
SERVICE_EXTERNAL_IP = (
    "externalIPs is a list of IP addresses for which nodes in the cluster will also accept tr"
    "affic for this service.  These IPs are not managed by Kubernetes.  The user is responsib"
    "le for ensuring that traffic arrives at a node with this IP.  A common example is extern"
    "al load-balancers that are not part of the Kubernetes system."
)
SERVICE_PORTS = (
    "The list of ports that are exposed by this service. More info: https://kubernetes.io/doc"
    "s/concepts/services-networking/service/#virtual-ips-and-service-proxies"
)
SERVICE_SELECTOR = (
    "Route service traffic to pods with label keys and values matching this selector. If empt"
    "y or not present, the service is assumed to have an external process managing its endpoi"
    "nts, which Kubernetes will not modify. Only applies to types ClusterIP, NodePort, and Lo"
    "adBalancer. Ignored if type is ExternalName. More info: https://kubernetes.io/docs/conce"
    "pts/services-networking/service/"
)
SLICE_ADDRESSTYPE = (
    "addressType specifies the type of address carried by this EndpointSlice. All addresses i"
    "n this slice must be the same type. This field is immutable after creation. The followin"
    "g address types are currently supported: * IPv4: Represents an IPv4 Address. * IPv6: Rep"
    "resents an IPv6 Address. * FQDN: Represents a Fully Qualified Domain Name."
)
SLICE_PORTS = (
    "ports specifies the list of network ports exposed by each endpoint in this slice. Each p"
    "ort must have a unique name. When ports is empty, it indicates that there are no defined"
    ' ports. When a port is defined with a nil port value, it indicates "all ports". Each sli'
    "ce may include a maximum of 100 ports."
)
SLICE_ENDPOINTS = (
    "endpoints is a list of unique endpoints in this slice. Each slice may include a maximum "
    "of 1000 endpoints."
)
ENDPOINTS_ENDPOINTS = (
    "The set of all endpoints is the union of all subsets. Addresses are placed into subsets "
    "according to the IPs they share. A single address with multiple ports, some of which are "
    "ready and some of which are not (because they come from different containers) will result "
    "in the address being displayed in different subsets for the different ports. No address "
    "will appear in both Addresses and NotReadyAddresses in the same subset. Sets of addresses "
    "and ports that comprise a service."
)

JOB_COLUMNS: list[Column] = [
    ("Name", "string", "name", 0, _NAME_DOC),
    ("Completions", "string", "", 0, JOB_COMPLETIONS),
    ("Duration", "string", "", 0, JOB_DURATION),
    ("Age", "string", "", 0, _AGE_DOC),
    ("Containers", "string", "", 1, JOB_CONTAINERS),
    ("Images", "string", "", 1, JOB_IMAGES),
    ("Selector", "string", "", 1, JOB_SELECTOR),
]
CRONJOB_COLUMNS: list[Column] = [
    ("Name", "string", "name", 0, _NAME_DOC),
    ("Schedule", "string", "", 0, CRONJOB_SCHEDULE),
    ("Suspend", "boolean", "", 0, CRONJOB_SUSPEND),
    ("Active", "integer", "", 0, CRONJOB_ACTIVE),
    ("Last Schedule", "string", "", 0, CRONJOB_LAST_SCHEDULE),
    ("Age", "string", "", 0, _AGE_DOC),
    ("Containers", "string", "", 1, JOB_CONTAINERS),
    ("Images", "string", "", 1, JOB_IMAGES),
    ("Selector", "string", "", 1, JOB_SELECTOR),
]
SERVICE_COLUMNS: list[Column] = [
    ("Name", "string", "name", 0, _NAME_DOC),
    ("Type", "string", "", 0, SERVICE_TYPE),
    ("Cluster-IP", "string", "", 0, SERVICE_CLUSTER_IP),
    ("External-IP", "string", "", 0, SERVICE_EXTERNAL_IP),
    ("Port(s)", "string", "", 0, SERVICE_PORTS),
    ("Age", "string", "", 0, _AGE_DOC),
    ("Selector", "string", "", 1, SERVICE_SELECTOR),
]
SLICE_COLUMNS: list[Column] = [
    ("Name", "string", "name", 0, _NAME_DOC),
    ("AddressType", "string", "", 0, SLICE_ADDRESSTYPE),
    ("Ports", "string", "", 0, SLICE_PORTS),
    ("Endpoints", "string", "", 0, SLICE_ENDPOINTS),
    ("Age", "string", "", 0, _AGE_DOC),
]
ENDPOINTS_COLUMNS: list[Column] = [
    ("Name", "string", "name", 0, _NAME_DOC),
    ("Endpoints", "string", "", 0, ENDPOINTS_ENDPOINTS),
    ("Age", "string", "", 0, _AGE_DOC),
]


def _containers(template_spec: Obj) -> list[str]:
    containers = template_spec.get("containers") or []
    return [
        ",".join(c.get("name", "") for c in containers),
        ",".join(c.get("image", "") for c in containers),
    ]


def _job_row(job: Obj, ages: _Ages) -> tuple[list[Any], None]:
    spec = job.get("spec") or {}
    status = job.get("status") or {}
    succeeded = int(status.get("succeeded") or 0)
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{spec['completions']}"
    elif int(spec.get("parallelism") or 0) > 1:
        completions = f"{succeeded}/1 of {spec['parallelism']}"
    else:
        completions = f"{succeeded}/1"
    duration = ""
    start = _parse_time(status.get("startTime"))
    end = _parse_time(status.get("completionTime"))
    if start is not None and end is not None:
        duration = human_duration((end - start).total_seconds())
    elif start is not None:
        duration = ages.since(status.get("startTime"))
    template_spec = (spec.get("template") or {}).get("spec") or {}
    return [
        job["metadata"]["name"],
        completions,
        duration,
        ages.since(job["metadata"].get("creationTimestamp")),
        *_containers(template_spec),
        format_selector(spec.get("selector")),
    ], None


def _cronjob_row(cronjob: Obj, ages: _Ages) -> tuple[list[Any], None]:
    spec = cronjob.get("spec") or {}
    status = cronjob.get("status") or {}
    suspend = spec.get("suspend")
    last = status.get("lastScheduleTime")
    job_spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    template_spec = (job_spec.get("template") or {}).get("spec") or {}
    return [
        cronjob["metadata"]["name"],
        spec.get("schedule", ""),
        "<unset>" if suspend is None else str(bool(suspend)),
        len(status.get("active") or []),
        ages.since(last) if last else "<none>",
        ages.since(cronjob["metadata"].get("creationTimestamp")),
        *_containers(template_spec),
        format_selector(job_spec.get("selector")),
    ], None


def _more(items: list[str], total: int, limit: int = 3) -> str:
    text = ",".join(items[:limit])
    if total > limit:
        text += f" + {total - limit} more..."
    return text


def _service_external(spec: Obj, status: Obj) -> str:
    kind = spec.get("type") or "ClusterIP"
    external = list(spec.get("externalIPs") or [])
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else "<none>"
    if kind == "ExternalName":
        return str(spec.get("externalName") or "")
    ingress = [
        i.get("ip") or i.get("hostname") or ""
        for i in (status.get("loadBalancer") or {}).get("ingress") or []
    ]
    found = ingress + external
    return ",".join(found) if found else "<pending>"


def _service_row(svc: Obj, ages: _Ages) -> tuple[list[Any], None]:
    spec = svc.get("spec") or {}
    kind = spec.get("type") or "ClusterIP"
    ports = []
    for port in spec.get("ports") or []:
        text = str(port.get("port"))
        if port.get("nodePort"):
            text += f":{port['nodePort']}"
        ports.append(f"{text}/{port.get('protocol') or 'TCP'}")
    selector = spec.get("selector") or {}
    cluster_ip = spec.get("clusterIP") or ("<none>" if kind == "ExternalName" else "")
    return [
        svc["metadata"]["name"],
        kind,
        cluster_ip,
        _service_external(spec, svc.get("status") or {}),
        ",".join(ports) if ports else "<none>",
        ages.since(svc["metadata"].get("creationTimestamp")),
        ",".join(f"{k}={v}" for k, v in sorted(selector.items())) if selector else "<none>",
    ], None


def _slice_row(eps: Obj, ages: _Ages) -> tuple[list[Any], None]:
    ports = eps.get("ports") or []
    port_texts = [str(p["port"]) if p.get("port") is not None else "<unset>" for p in ports]
    addresses = [a for e in eps.get("endpoints") or [] for a in e.get("addresses") or []]
    return [
        eps["metadata"]["name"],
        eps.get("addressType", ""),
        _more(port_texts, len(port_texts)) if ports else "<unset>",
        _more(addresses, len(addresses)) if addresses else "<unset>",
        ages.since(eps["metadata"].get("creationTimestamp")),
    ], None


def _endpoints_row(ep: Obj, ages: _Ages) -> tuple[list[Any], None]:
    pairs: list[str] = []
    for subset in ep.get("subsets") or []:
        ports = subset.get("ports") or []
        for address in subset.get("addresses") or []:
            if not ports:
                pairs.append(str(address.get("ip")))
            for port in ports:
                pairs.append(f"{address.get('ip')}:{port.get('port')}")
    return [
        ep["metadata"]["name"],
        _more(pairs, len(pairs)) if pairs else "<none>",
        ages.since(ep["metadata"].get("creationTimestamp")),
    ], None


PRINTERS: dict[str, tuple[list[Column], Row]] = {
    "Job": (JOB_COLUMNS, _job_row),
    "CronJob": (CRONJOB_COLUMNS, _cronjob_row),
    "Service": (SERVICE_COLUMNS, _service_row),
    "EndpointSlice": (SLICE_COLUMNS, _slice_row),
    "Endpoints": (ENDPOINTS_COLUMNS, _endpoints_row),
}
