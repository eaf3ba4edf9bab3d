"""The reads a pod's kind adds to its diagnosis, within the same five-request budget.

`diagnosis_reads` plans the base reads (the pod, its events, the owner chain, one log or the
metrics or the nodes); `arrange` fits the kinds' reads in, dropping a read that tells nothing
for that pod so a more useful one takes its request (docs/mcp-server.md, "How a diagnosis
stays within five requests"). Each step here is conditional: `wanted` decides from the pod and
what was read before it, so a step that does not apply costs no request and is not reported as
skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from mcp_server.diagnostics.storage import claim_names, waits_for_claim
from mcp_server.gateway import JSON, DiagnosisInputs, EventsCut, Gateway, NotFound
from mcp_server.writes import WriteRefused, label_selector

STEPS = frozenset(
    {
        "job",
        "cronjob",
        "cronjob_events",
        "claim",
        "claim_events",
        "node",
        "endpointslices",
        "daemon_nodes",
        "daemon_pods",
    }
)
# Events on a pod that mean its node, not the pod, is the story.
NODE_EVENTS = frozenset(
    {"NodeNotReady", "TaintManagerEviction", "Evicted", "NodeControllerEviction"}
)
_LOG_OR_USAGE = ("log", "metrics")


class Step(Protocol):
    @property
    def what(self) -> str: ...


def _controller(obj: JSON | None, kind: str) -> str | None:
    for ref in ((obj or {}).get("metadata") or {}).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller") is True and ref.get("kind") == kind:
            name = ref.get("name")
            return str(name) if name else None
    return None


def _status(pod: JSON) -> JSON:
    return pod.get("status") or {}


def _finished(pod: JSON) -> bool:
    return _status(pod).get("phase") in ("Failed", "Succeeded")


def _failed(pod: JSON) -> bool:
    """A container of the pod failed (terminated non-zero now or last time), or the pod."""
    if _status(pod).get("phase") == "Failed":
        return True
    for cs in _status(pod).get("containerStatuses") or []:
        for state in (cs.get("state") or {}, cs.get("lastState") or {}):
            code = (state.get("terminated") or {}).get("exitCode")
            if isinstance(code, int) and code != 0:
                return True
    return False


def _ready_condition(pod: JSON) -> str | None:
    for cond in _status(pod).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == "Ready":
            return str(cond.get("status"))
    return None


def _marked_not_ready(pod: JSON) -> bool:
    """Ready False set by the node controller (no reason), not by the kubelet."""
    for cond in _status(pod).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == "Ready":
            return cond.get("status") == "False" and cond.get("reason") in (
                None,
                "",
                "NodeNotReady",
            )
    return False


def _running(pod: JSON) -> bool:
    return any(
        "running" in (cs.get("state") or {}) for cs in _status(pod).get("containerStatuses") or []
    )


def node_suspect(pod: JSON, events: Sequence[JSON]) -> bool:
    """Whether the pod's node is worth its request: the pod was evicted, events name the
    node, the node controller marked it not ready while its containers still say ready (the
    kubelet stopped reporting), or it is stuck terminating or Unknown."""
    status = _status(pod)
    if not (pod.get("spec") or {}).get("nodeName"):
        return False
    if status.get("reason") == "Evicted" or status.get("phase") == "Unknown":
        return True
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return True
    if any(e.get("reason") in NODE_EVENTS for e in events):
        return True
    statuses = status.get("containerStatuses") or []
    return (
        _marked_not_ready(pod)
        and bool(statuses)
        and all(cs.get("ready") is True for cs in statuses)
    )


def arrange(pod: JSON, plan: list[Any], tail: list[Any], make: Callable[[str], Any]) -> list[Any]:
    """The base plan (`plan`: events and owner reads; `tail`: log / metrics / nodes) with the
    kind's reads fitted in, most valuable first."""
    steps = list(plan)
    rest = list(tail)
    later: list[Any] = []  # read only if the budget still allows

    def take(what: str, from_: list[Any]) -> list[Any]:
        found = [s for s in from_ if s.what == what]
        for s in found:
            from_.remove(s)
        return found

    owners = (pod.get("metadata") or {}).get("ownerReferences") or []
    is_daemon = any(o.get("kind") == "DaemonSet" for o in owners if isinstance(o, dict))
    if _controller(pod, "Job"):
        if _finished(pod):
            # A finished Job pod's status holds its termination; its events come last.
            later += take("events", steps)
        steps += [make("job"), make("cronjob")]
        logs = [s for s in rest if s.what == "log"]
        rest = [s for s in rest if s.what != "log"]
        # The failed instance's log explains a failure; for a pod that did not fail, the
        # CronJob's events (missed schedules, the last runs' outcomes) tell more.
        cron_events = [make("cronjob_events")]
        steps += logs + cron_events if _failed(pod) else cron_events + logs
    if claim_names(pod) and waits_for_claim(pod):
        # The scheduler's condition already says the claim is unbound: its events say the
        # rest, the claim and its events say why. No container ran: no rollout history.
        later += take("events", steps)
        take("controllerrevisions", steps)
        take("nodes", rest)
        steps += [make("claim"), make("claim_events")]
    if is_daemon:
        pending = _status(pod).get("phase") == "Pending" or not _running(pod)
        daemon = [make("daemon_nodes"), make("daemon_pods")]
        if pending:
            take("nodes", rest)  # the daemon's node list serves the scheduling facts too
            index = next((n + 1 for n, s in enumerate(steps) if s.what == "workload"), len(steps))
            steps[index:index] = daemon
        else:
            later += daemon
    # The node replaces the log or the usage for a pod whose node is suspect (`wanted`); a pod
    # on no node has none to read.
    if (pod.get("spec") or {}).get("nodeName"):
        first = next((n for n, s in enumerate(rest) if s.what in _LOG_OR_USAGE), len(rest))
        rest.insert(first, make("node"))
    if _status(pod).get("podIP") and not _finished(pod):
        slices = make("endpointslices")
        if _running(pod) and _ready_condition(pod) == "False" and not is_daemon:
            metrics = next((n for n, s in enumerate(rest) if s.what == "metrics"), len(rest))
            rest.insert(metrics, slices)
        else:
            later.append(slices)
    return steps + rest + later


def wanted(what: str, pod: JSON, inputs: DiagnosisInputs) -> bool:
    """Whether a conditional step applies, given what was read before it."""
    if what == "job":
        return _controller(pod, "Job") is not None
    if what == "cronjob":
        return _controller(inputs.job, "CronJob") is not None
    if what == "cronjob_events":
        return inputs.cronjob is not None
    if what == "claim":
        return bool(claim_names(pod)) and waits_for_claim(pod, inputs.events)
    if what == "claim_events":
        return bool(inputs.claims)
    if what == "node":
        return node_suspect(pod, inputs.events)
    if what == "endpointslices":
        return (
            bool(_status(pod).get("podIP")) and not _finished(pod) and inputs.endpointslices is None
        )
    if what in ("daemon_nodes", "daemon_pods"):
        workload = _workload(inputs)
        return (
            workload is not None
            and workload.get("kind", "DaemonSet") == "DaemonSet"
            and (_controller(pod, "DaemonSet") is not None)
        )
    return False


def fetch(gateway: Gateway, namespace: str, pod: JSON, what: str, inputs: DiagnosisInputs) -> None:
    """Send the one request of step `what` and keep its answer in `inputs`."""
    if what == "job":
        name = _controller(pod, "Job")
        if name:
            inputs.job = gateway.get_job(namespace, name)
    elif what == "cronjob":
        name = _controller(inputs.job, "CronJob")
        if name:
            inputs.cronjob = gateway.get_cronjob(namespace, name)
    elif what == "cronjob_events" and inputs.cronjob is not None:
        meta = inputs.cronjob.get("metadata") or {}
        inputs.cronjob_events = _events(
            gateway, inputs, namespace, str(meta.get("name")), meta.get("uid"), "CronJob"
        )
    elif what == "claim":
        name = claim_names(pod)[0]
        try:
            inputs.claims = [gateway.get_persistent_volume_claim(namespace, name)]
        except NotFound:
            inputs.missing_claims = [name]
    elif what == "claim_events" and inputs.claims:
        meta = inputs.claims[0].get("metadata") or {}
        inputs.claim_events = _events(
            gateway,
            inputs,
            namespace,
            str(meta.get("name")),
            meta.get("uid"),
            "PersistentVolumeClaim",
        )
    elif what == "node":
        inputs.node = gateway.get_node(str((pod.get("spec") or {}).get("nodeName")))
    elif what == "endpointslices":
        inputs.endpointslices = gateway.list_endpoint_slices(namespace)
    elif what == "daemon_nodes":
        inputs.daemon_nodes = gateway.list_nodes()
        if not inputs.nodes:
            inputs.nodes = inputs.daemon_nodes
    elif what == "daemon_pods" and _workload(inputs) is not None:
        selector = ((_workload(inputs) or {}).get("spec") or {}).get("selector") or {}
        try:
            text = label_selector(selector)
        except WriteRefused:
            return
        if text:
            inputs.daemon_pods = list(gateway.list_pods(namespace, label_selector=text).items)


def _workload(inputs: DiagnosisInputs) -> JSON | None:
    """The pod's StatefulSet or DaemonSet, when the workload read has run."""
    return inputs.workload


def _events(
    gateway: Gateway,
    inputs: DiagnosisInputs,
    namespace: str,
    name: str,
    uid: object,
    kind: str,
) -> list[JSON]:
    try:
        return gateway.list_events_for(namespace, name, uid=str(uid) if uid else None, kind=kind)
    except EventsCut as cut:
        inputs.skipped.append(f"{kind} events: cut: {cut.message}")
        return cut.items
