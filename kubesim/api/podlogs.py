"""pods/log: what the kubelet answers for a container's current or previous log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from kubesim.api import errors
from kubesim.clock import SimClock
from kubesim.logs import LogLine, LogStore

Obj = dict[str, Any]
TRUE = ("true", "1", "True")
# On a node: the API server cannot reach its kubelet (port 10250 refuses connections), so
# everything it proxies there (logs) fails with the dial error, as on a node whose kubelet died.
KUBELET_UNREACHABLE = "kubesim.io/kubelet-unreachable"
# kubeadm / kind's --kubelet-preferred-address-types
ADDRESS_PREFERENCE = ("InternalIP", "ExternalIP", "Hostname")


def kubelet_unreachable(node: Obj | None) -> bool:
    annotations = ((node or {}).get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(KUBELET_UNREACHABLE, "")).lower() in ("true", "1", "yes")


def kubelet_host(node: Obj) -> str:
    """host:port the API server dials for this node's kubelet."""
    status = node.get("status") or {}
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    host = next((addresses[t] for t in ADDRESS_PREFERENCE if addresses.get(t)), None)
    host = host or node["metadata"]["name"]
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port") or 10250
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def kubelet_log_url(pod: Obj, node: Obj, container: str, query: dict[str, str]) -> str:
    """The URL LogLocation builds: /containerLogs/NS/POD/CONTAINER and the options, sorted."""
    params: dict[str, str] = {}
    for flag in ("follow", "previous", "timestamps"):
        if query.get(flag) in TRUE:
            params[flag] = "true"
    for number in ("sinceSeconds", "sinceTime", "tailLines", "limitBytes"):
        if query.get(number) not in (None, ""):
            params[number] = str(query[number])
    meta = pod["metadata"]
    url = (
        f"https://{kubelet_host(node)}/containerLogs/"
        f"{meta.get('namespace', '')}/{meta['name']}/{container}"
    )
    if params:
        url += "?" + urlencode(sorted(params.items()))
    return url


def _int_param(query: dict[str, str], name: str, minimum: int) -> int | None:
    raw = query.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(str(raw))
    except ValueError as exc:
        raise errors.bad_request(f'invalid value "{raw}" for {name}') from exc
    if value < minimum:
        raise errors.invalid(
            "PodLogOptions",
            "",
            "",
            [
                (
                    "FieldValueInvalid",
                    name,
                    f"Invalid value: {value}: must be greater than or equal to {minimum}",
                )
            ],
        )
    return value


def _container_status(pod: Obj, container: str) -> Obj:
    status = pod.get("status") or {}
    statuses = list(status.get("containerStatuses") or []) + list(
        status.get("initContainerStatuses") or []
    )
    for cs in statuses:
        if cs.get("name") == container:
            return dict(cs)
    return {}


def choose_container(pod: Obj, requested: str | None) -> str:
    name = pod["metadata"]["name"]
    spec = pod.get("spec") or {}
    names: list[str] = [str(c["name"]) for c in spec.get("containers") or []]
    init_names = [c["name"] for c in spec.get("initContainers") or []]
    if not requested:
        if len(names) == 1:
            return names[0]
        message = (
            f"a container name must be specified for pod {name}, choose one of: [{' '.join(names)}]"
        )
        if init_names:
            message += f" or one of the init containers: [{' '.join(init_names)}]"
        raise errors.bad_request(message)
    if requested not in names and requested not in init_names:
        raise errors.bad_request(f"container {requested} is not valid for pod {name}")
    return requested


def read_log(
    pod: Obj, logs: LogStore, clock: SimClock, query: dict[str, str], node: Obj | None = None
) -> bytes | None:
    """The log text, or None for a pod no node runs (the server answers 204 with no body).
    A node marked `kubesim.io/kubelet-unreachable` fails with the kubelet dial error (500)."""
    container = choose_container(pod, query.get("container"))
    tail = _int_param(query, "tailLines", 0)
    since = _int_param(query, "sinceSeconds", 1)
    limit = _int_param(query, "limitBytes", 1)
    if not (pod.get("spec") or {}).get("nodeName"):
        return None
    if node is not None and kubelet_unreachable(node):
        raise errors.kubelet_unreachable(
            kubelet_log_url(pod, node, container, query), kubelet_host(node)
        )
    name = pod["metadata"]["name"]
    previous = query.get("previous") in TRUE
    lines = logs.read(pod["metadata"].get("namespace", ""), name, container, previous=previous)
    cstatus = _container_status(pod, container)
    last_terminated = (cstatus.get("lastState") or {}).get("terminated")
    if previous and lines is None and not last_terminated:
        raise errors.bad_request(
            f'previous terminated container "{container}" in pod "{name}" not found'
        )
    if not previous and lines is None:
        state = cstatus.get("state") or {}
        if not (state.get("running") or state.get("terminated") or last_terminated):
            reason = (state.get("waiting") or {}).get("reason") or "ContainerCreating"
            raise errors.bad_request(
                f'container "{container}" in pod "{name}" is waiting to start: {reason}'
            )
    selected = lines or []
    if since is not None:
        selected = [ln for ln in selected if ln[0] >= clock.seconds() - since]
    if query.get("sinceTime"):
        cutoff = clock.to_seconds(query["sinceTime"][:19] + "Z")
        selected = [ln for ln in selected if ln[0] >= cutoff]
    if tail is not None:
        selected = selected[-tail:] if tail > 0 else []
    body = render(selected, clock, query.get("timestamps") in TRUE)
    return body[:limit] if limit is not None else body


def render(lines: list[LogLine], clock: SimClock, stamps: bool) -> bytes:
    out: list[str] = []
    for at, text in lines:
        if stamps:
            moment = clock.now() + timedelta(seconds=at - clock.seconds())
            out.append(moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z " + text)
        else:
            out.append(text)
    return "".join(line + "\n" for line in out).encode()


def newer_lines(lines: list[LogLine], last: LogLine | None) -> list[LogLine]:
    """The lines after `last` (the newest line already sent); all of them if it is gone."""
    if last is None:
        return lines
    for i in range(len(lines) - 1, -1, -1):
        if lines[i] == last:
            return lines[i + 1 :]
    return [ln for ln in lines if ln[0] > last[0]]


def container_running(pod: Obj | None, container: str) -> bool:
    if pod is None or pod["metadata"].get("deletionTimestamp"):
        return False
    return bool((_container_status(pod, container).get("state") or {}).get("running"))
