"""The writes around a memory raise's or a rollback's template patch: the in-place resizes
of the running pods (pods/resize, Kubernetes 1.33+) and the forced deletes that unblock an
OrderedReady StatefulSet's rolling update. mcp_server.cluster_writer delegates to them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mcp_server.diagnostics.resources import memory_bytes
from mcp_server.gateway import Conflict, GatewayError, Invalid, NotFound, NotServed
from mcp_server.plans import Plan
from mcp_server.pod_diagnosis import classify_pod
from mcp_server.state import ServerState
from mcp_server.verifier import pod_ready
from mcp_server.writes import (
    CONTROLLER_REVISION_HASH,
    WriteRefused,
    current_template_pods,
    label_selector,
    owner_uid,
    resize_patch,
)

if TYPE_CHECKING:
    from mcp_server.cluster_writer import Fresh

log = logging.getLogger(__name__)

JSON = dict[str, Any]
# A conditional patch answered 409 only because someone wrote the object meanwhile is
# rebuilt on a fresh read, this many times at most.
CONFLICT_ATTEMPTS = 3


class ResizeWrites:
    """Pod writes of one ClusterWriter: `neighbours` answers a namespace's pods now."""

    def __init__(self, state: ServerState, neighbours: Callable[[str], list[JSON]]) -> None:
        self.state = state
        self._neighbours = neighbours

    # -- an OrderedReady StatefulSet's rolling update, unblocked ----------------------------

    def stuck_pods(self, fresh: Fresh, resized: list[JSON] | None) -> list[JSON]:
        """The pods that block the rolling update the template change starts: with
        `podManagementPolicy: OrderedReady` (the default) the StatefulSet controller replaces
        no pod while one is not Running and Ready, so pods of the revision being replaced that
        are not, or fail between two crashes (crash-looping, OOM-killed, an image that does
        not pull), would stay forever;
        Kubernetes documents deleting them after reverting the template ("forced rollback").
        Pods resized in place are left alone: they are recovering where they run."""
        sts = fresh.workload or {}
        spec = sts.get("spec") or {}
        if fresh.kind != "StatefulSet" or spec.get("podManagementPolicy") == "Parallel":
            return []
        if (spec.get("updateStrategy") or {}).get("type") == "OnDelete":
            return []
        revision = (sts.get("status") or {}).get("updateRevision")
        uid = (sts.get("metadata") or {}).get("uid")
        if not revision or not uid:
            return []
        in_place = {str(e.get("uid")) for e in resized or [] if e.get("result") == "resized"}
        namespace = str((sts.get("metadata") or {}).get("namespace") or "")
        stuck = []
        for pod in self._neighbours(namespace):
            meta = pod.get("metadata") or {}
            labels = meta.get("labels") or {}
            if (
                owner_uid(pod, "StatefulSet") != uid
                or meta.get("deletionTimestamp")
                or labels.get(CONTROLLER_REVISION_HASH) != revision
                or str(meta.get("uid")) in in_place
                or (
                    (pod.get("status") or {}).get("phase") == "Running"
                    and pod_ready(pod)
                    and classify_pod(pod) is None  # not between two crashes either
                )
            ):
                continue
            stuck.append(pod)
        return sorted(stuck, key=lambda p: str((p.get("metadata") or {}).get("name")))

    def force_rollout(self, stuck: list[JSON], *, dry_run: bool) -> list[JSON]:
        """Delete each stuck pod (uid precondition), so the controller recreates it from the
        new template. A dry run lists them and sends nothing."""
        gw = self.state.gateway
        entries: list[JSON] = []
        for pod in stuck:
            meta = pod.get("metadata") or {}
            ns, name, uid = str(meta.get("namespace")), str(meta.get("name")), meta.get("uid")
            entry: JSON = {"pod": name, "namespace": ns, "uid": str(uid or "")}
            if dry_run:
                entries.append({**entry, "result": "would_delete"})
                continue
            try:
                gw.delete_pod(ns, name, uid=str(uid) if uid else None)
                entry["result"] = "deleted"
            except (NotFound, Conflict):
                entry["result"] = "gone"  # replaced meanwhile: nothing to unblock
            except GatewayError as error:
                entry.update(result="failed", status=error.status, message=error.message[:300])
            entries.append(entry)
        return entries

    # -- in-place resize (pods/resize, Kubernetes 1.33+) ------------------------------------

    def resize_in_place(self, plan: Plan, fresh: Fresh, *, dry_run: bool) -> list[JSON] | None:
        """Patch the `resize` subresource of each running pod of the workload's current
        template with the plan's memory limit; one entry per pod, whatever it answered.
        None: the API server does not serve pods/resize (the template patch alone acts)."""
        deployment = fresh.workload or {}
        gw = self.state.gateway
        ns = str(plan.target["namespace"])
        try:
            if not gw.serves_pod_resize():
                return None
        except GatewayError as error:
            log.warning("discovery failed; raising the memory limit by the template: %s", error)
            return None
        limit = plan.parameters.get("memory_limit_bytes")
        if not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0:
            return None  # the template patch refuses it with its reason
        spec = deployment.get("spec") or {}
        template_containers = ((spec.get("template") or {}).get("spec") or {}).get(
            "containers"
        ) or []
        container = plan.parameters.get("container")
        if container is None and len(template_containers) == 1:
            container = template_containers[0].get("name")
        if container is None:
            return None
        container = str(container)
        template_container = next(
            (c for c in template_containers if c.get("name") == container), None
        )
        history = self._history(plan, fresh)
        if history is None:
            return []
        pods = current_template_pods(deployment, history, self._neighbours(ns))
        entries: list[JSON] = []
        served = True
        for pod in pods:
            if not served:
                entries.append(_resize_entry(dict(pod), container, "not_served"))
                continue
            entry = self._resize_one(
                dict(pod),
                container,
                limit,
                template_container=template_container,
                request_bytes=request_param(plan.parameters),
                dry_run=dry_run,
            )
            served = entry["result"] != "not_served"
            entries.append(entry)
        return entries

    def _history(self, plan: Plan, fresh: Fresh) -> list[JSON] | None:
        """What tells the workload's current template: a Deployment's ReplicaSets, a
        DaemonSet's ControllerRevisions (a StatefulSet names its own in
        status.updateRevision: nothing to read). None when they could not be listed."""
        workload = fresh.workload or {}
        if fresh.kind == "StatefulSet" and (workload.get("status") or {}).get("updateRevision"):
            return []
        gw = self.state.gateway
        ns = str(plan.target["namespace"])
        try:
            selector = label_selector((workload.get("spec") or {}).get("selector") or {})
            if fresh.kind == "Deployment":
                return gw.list_replicasets(ns, label_selector=selector or None)
            return gw.list_controller_revisions(ns, label_selector=selector or None)
        except (GatewayError, WriteRefused) as error:
            log.warning("could not list the history of %s: %s", plan.target["name"], error)
            return None

    def _resize_one(
        self,
        pod: JSON,
        container: str,
        limit: int,
        *,
        template_container: JSON | None,
        request_bytes: int | None,
        dry_run: bool,
    ) -> JSON:
        gw = self.state.gateway
        meta = pod.get("metadata") or {}
        ns, name, uid = str(meta.get("namespace")), str(meta.get("name")), meta.get("uid")
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                patch = resize_patch(
                    pod,
                    container,
                    limit,
                    template_container=template_container,
                    request_bytes=request_bytes,
                )
            except WriteRefused as refused:
                return _resize_entry(pod, container, "skipped", message=refused.message)
            entry = _resize_entry(pod, container, "accepted" if dry_run else "resized", patch)
            if patch.limit_before is not None and memory_bytes(patch.limit_before) == limit:
                entry.update(result="unchanged", message="already at the new limit")
                return entry
            try:
                answer = gw.patch_pod_resize(ns, name, patch.body, dry_run=dry_run)
            except NotServed as error:
                return _resize_entry(pod, container, "not_served", message=error.message)
            except Conflict as error:
                # The kubelet writes the pod's status all the time: read it again; another
                # incarnation (or one being deleted) is the rollout's to replace.
                try:
                    again = gw.get_pod(ns, name)
                except NotFound:
                    return _resize_entry(pod, container, "gone", message="the pod is gone")
                except GatewayError as read_error:
                    return _resize_entry(pod, container, "failed", error=read_error)
                again_meta = again.get("metadata") or {}
                if again_meta.get("uid") != uid or again_meta.get("deletionTimestamp"):
                    return _resize_entry(pod, container, "gone", message="the pod was replaced")
                if attempt == CONFLICT_ATTEMPTS:
                    return _resize_entry(pod, container, "failed", error=error)
                pod = again
                continue
            except Invalid as error:
                # e.g. a QoS class change: the template rollout replaces this pod instead.
                return _resize_entry(pod, container, "refused", patch, error=error)
            except NotFound:
                return _resize_entry(pod, container, "gone", message="the pod is gone")
            except GatewayError as error:
                return _resize_entry(pod, container, "failed", patch, error=error)
            entry["restart_count"] = _restarts_of(answer, container)
            entry["resource_version"] = (answer.get("metadata") or {}).get("resourceVersion")
            return entry
        raise AssertionError("unreachable")


def request_param(parameters: Any) -> int | None:
    """A memory request the plan sets along with the limit, if it sets one."""
    value = parameters.get("memory_request_bytes")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _restarts_of(pod: JSON, container: str) -> int | None:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if isinstance(status, dict) and status.get("name") == container:
            return int(status.get("restartCount") or 0)
    return None


def _resize_entry(
    pod: JSON,
    container: str,
    result: str,
    patch: Any = None,
    *,
    error: GatewayError | None = None,
    message: str | None = None,
) -> JSON:
    """One pod's line in the write record: what was asked of it and what it answered.
    `result`: resized (dry run: accepted), refused (422), unchanged, gone, not_served,
    skipped or failed."""
    meta = pod.get("metadata") or {}
    entry: JSON = {
        "pod": str(meta.get("name")),
        "namespace": str(meta.get("namespace") or ""),
        "uid": str(meta.get("uid") or ""),
        "container": container,
        "result": result,
        "restart_count": _restarts_of(pod, container),
    }
    if patch is not None:
        entry["memory_limit"] = {"before": patch.limit_before, "after": patch.limit}
        if patch.request is not None:
            entry["memory_request"] = {"before": patch.request_before, "after": patch.request}
    if error is not None:
        entry["status"] = error.status
        entry["message"] = error.message[:500]
    elif message is not None:
        entry["message"] = message
    return entry
