"""What a plan writes to the cluster, and what it expects to see there afterwards.

Builders for the writes live in mcp_server.writes (pure); this module reads what they need
(the pods around a target, the ReplicaSets of a rollback) and sends them through the gateway,
each with its precondition, plus the Kubernetes Event that says so on the object.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from mcp_server.errors import ErrorCode
from mcp_server.gateway import Conflict, GatewayError
from mcp_server.plans import Plan
from mcp_server.reconcile import template_digest
from mcp_server.resize_writes import CONFLICT_ATTEMPTS, ResizeWrites, request_param
from mcp_server.state import ServerState
from mcp_server.tools.models import ToolFailure
from mcp_server.verifier import delete_expectation, selector_matches
from mcp_server.writes import (
    CONTROLLER_REVISION_HASH,
    POD_TEMPLATE_HASH,
    WriteRefused,
    event_body,
    memory_patch,
    memory_text,
    revision_of,
    revision_rollback_patch,
    rollback_patch,
)
from policies import Action

log = logging.getLogger(__name__)

JSON = dict[str, Any]
W = TypeVar("W")
# Workloads whose history is ControllerRevisions (their pods carry controller-revision-hash).
REVISIONED_KINDS = frozenset({"StatefulSet", "DaemonSet"})


class PartialWrite(Exception):
    """The plan's main write failed after other writes of the same intent were applied (a
    memory raise's in-place resizes before its template patch): `error` is the failure,
    `written` what was applied, for the outcome record."""

    def __init__(self, error: GatewayError | ToolFailure, written: JSON) -> None:
        super().__init__(str(error))
        self.error = error
        self.written = written


@dataclass
class Fresh:
    """The facts re-read just before the write."""

    pod: JSON
    # The workload whose template a workload action writes: a Deployment, StatefulSet or
    # DaemonSet (None for an action on the pod).
    workload: JSON | None = None
    # Its history, a rollback's sources: a Deployment's ReplicaSets, a StatefulSet's or
    # DaemonSet's ControllerRevisions.
    history: list[JSON] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return str((self.workload or {}).get("kind") or "Deployment")


class ClusterWriter:
    def __init__(self, state: ServerState) -> None:
        self.state = state
        self._instance = socket.gethostname()
        self._pods = ResizeWrites(state, self._neighbours)

    def _neighbours(self, namespace: str) -> list[JSON]:
        """The namespace's pods now: from the watch cache (no request), else one list."""
        cache = self.state.cache
        if cache is not None and cache.synced:
            return cache.pods(namespace)
        return self.state.gateway.list_pods(namespace).items

    def expected(self, plan: Plan, fresh: Fresh) -> JSON:
        """What verification and reconciliation compare the cluster with afterwards."""
        namespace = str(plan.pod.get("namespace"))
        if plan.action in (Action.DELETE_POD.value, Action.DELETE_EVICTED_POD.value):
            return delete_expectation(fresh.pod, self._neighbours(namespace))
        deployment = fresh.workload or {}
        # The pods the workload had before the write: a rollout's new pods are the others.
        selector = (deployment.get("spec") or {}).get("selector") or {}
        pods = [
            p
            for p in self._neighbours(namespace)
            if selector_matches(selector, (p.get("metadata") or {}).get("labels") or {})
        ]
        key = CONTROLLER_REVISION_HASH if fresh.kind in REVISIONED_KINDS else POD_TEMPLATE_HASH
        before = {
            "pods_before": sorted(str((p.get("metadata") or {}).get("uid")) for p in pods),
            # The templates running before: a pod of one of them is no sign of the change.
            "hashes_before": sorted(
                {
                    str(labels[key])
                    for p in pods
                    if key in (labels := (p.get("metadata") or {}).get("labels") or {})
                }
            ),
        }
        if plan.action == Action.INCREASE_MEMORY_LIMIT.value:
            limit = plan.parameters.get("memory_limit_bytes")
            return {
                "container": plan.parameters.get("container"),
                "memory_limit": memory_text(int(limit)) if isinstance(limit, int) else None,
                **before,
            }
        if plan.action == Action.ROLLBACK_DEPLOYMENT.value:
            if fresh.kind in REVISIONED_KINDS:
                undo = _writes(
                    lambda: revision_rollback_patch(
                        deployment, fresh.history, _revision_param(plan.parameters)
                    )
                )
                template, chosen = undo.template, undo.revision
            else:
                ops, chosen = _writes(
                    lambda: rollback_patch(
                        deployment, fresh.history, _revision_param(plan.parameters)
                    )
                )
                template = next(op["value"] for op in ops if op.get("path") == "/spec/template")
            return {
                "template_digest": template_digest(template),
                "revision": chosen,
                **before,
            }
        if plan.action == Action.SCALE_DOWN_DEPLOYMENT.value:
            return {"replicas": plan.parameters.get("replicas"), **before}
        return {}

    def write(self, plan: Plan, fresh: Fresh, expected: JSON, *, dry_run: bool) -> JSON:
        """Send the plan's write; answer what was written (for the audit and the ledger)."""
        return self.send(plan, fresh, dry_run=dry_run)[0]

    def send(self, plan: Plan, fresh: Fresh, *, dry_run: bool) -> tuple[JSON, JSON]:
        """Send the plan's write; answer what was written and the API server's answer object
        (the deleted Pod, the patched Deployment). With `dry_run` (`dryRun=All`) the answer
        is the object as the write would leave it, and nothing is changed."""
        gw = self.state.gateway
        ns = str(plan.target["namespace"])
        name = str(plan.target["name"])
        action = plan.action
        if action in (Action.DELETE_POD.value, Action.DELETE_EVICTED_POD.value):
            answer = gw.delete_pod(ns, name, dry_run=dry_run, uid=plan.facts.pod_uid)
            return {"deleted": f"Pod/{ns}/{name}", "uid": plan.facts.pod_uid}, answer
        if fresh.workload is None:
            raise ToolFailure(
                ErrorCode.UNSUPPORTED, f"{action} on a {plan.target['kind']} is not supported"
            )
        if action == Action.SCALE_DOWN_DEPLOYMENT.value and fresh.kind == "Deployment":
            replicas = plan.parameters.get("replicas")
            if not isinstance(replicas, int) or replicas < self.state.policy.min_replicas:
                raise ToolFailure(ErrorCode.SAFETY_CHECK_FAILED, "no valid replica count")
            answer = gw.scale_deployment(ns, name, replicas, dry_run=dry_run)
            return {"replicas": replicas}, answer
        if action not in (
            Action.INCREASE_MEMORY_LIMIT.value,
            Action.ROLLBACK_DEPLOYMENT.value,
        ):
            raise ToolFailure(
                ErrorCode.UNSUPPORTED, f"{action} is not an action the server performs"
            )
        resized: list[JSON] | None = None
        if action == Action.INCREASE_MEMORY_LIMIT.value:
            # Running pods first (Kubernetes 1.33+): the OOM kills stop at once; the template
            # patch then keeps the value for the pods the rollout creates.
            resized = self._pods.resize_in_place(plan, fresh, dry_run=dry_run)
        try:
            written, answer = self._template_patch(plan, fresh, dry_run=dry_run)
        except (GatewayError, ToolFailure) as error:
            applied = [r for r in resized or [] if r.get("result") == "resized"]
            if applied and not dry_run:
                raise PartialWrite(error, {"resize": resized, "template_patched": False}) from error
            raise
        if resized is not None:
            written["resize"] = resized
        stuck = self._pods.stuck_pods(fresh, resized)
        if stuck:
            written["forced"] = self._pods.force_rollout(stuck, dry_run=dry_run)
        return written, answer

    def _template_patch(self, plan: Plan, fresh: Fresh, *, dry_run: bool) -> tuple[JSON, JSON]:
        gw = self.state.gateway
        ns = str(plan.target["namespace"])
        name = str(plan.target["name"])
        deployment = fresh.workload or {}
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                return self._patch(plan, deployment, fresh.history, dry_run=dry_run)
            except Conflict:
                # The controller's status writes move the resourceVersion too. Only a change
                # of the spec (its generation) stales the plan; then the 409 stands.
                again = gw.get_workload(fresh.kind, ns, name)
                generation = int((again.get("metadata") or {}).get("generation") or 0)
                if attempt == CONFLICT_ATTEMPTS or generation != plan.facts.workload_generation:
                    raise
                deployment = again
        raise AssertionError("unreachable")

    def _patch(
        self, plan: Plan, deployment: JSON, replicasets: list[JSON], *, dry_run: bool
    ) -> tuple[JSON, JSON]:
        gw = self.state.gateway
        ns = str(plan.target["namespace"])
        name = str(plan.target["name"])
        kind = str(deployment.get("kind") or "Deployment")
        if plan.action == Action.INCREASE_MEMORY_LIMIT.value:
            limit = plan.parameters.get("memory_limit_bytes")
            container = plan.parameters.get("container")
            ops, changed, value = _writes(
                lambda: memory_patch(
                    deployment,
                    None if container is None else str(container),
                    int(limit) if isinstance(limit, int) else 0,
                    request_bytes=request_param(plan.parameters),
                )
            )
            answer = gw.patch_workload(kind, ns, name, ops, patch_type="json", dry_run=dry_run)
            return {"container": changed, "memory_limit": value, "patch": ops}, answer
        if kind in REVISIONED_KINDS:
            # `kubectl rollout undo statefulset/X` (daemonset/X): the revision's data as a
            # strategic-merge patch, here conditional on the resourceVersion read.
            undo = _writes(
                lambda: revision_rollback_patch(
                    deployment, replicasets, _revision_param(plan.parameters)
                )
            )
            answer = gw.patch_workload(
                kind, ns, name, undo.body, patch_type="strategic", dry_run=dry_run
            )
            return {"to_revision": undo.revision, "from_revision": undo.from_revision}, answer
        ops, chosen = _writes(
            lambda: rollback_patch(deployment, replicasets, _revision_param(plan.parameters))
        )
        answer = gw.patch_deployment(ns, name, ops, patch_type="json", dry_run=dry_run)
        return {"to_revision": chosen, "from_revision": revision_of(deployment)}, answer

    def event(self, plan: Plan, written: JSON) -> None:
        target = plan.target
        body = event_body(
            str(target["kind"]),
            str(target["namespace"]),
            str(target["name"]),
            str(target.get("uid") or "") or None,
            plan.action,
            plan.reason,
            now_text(self.state),
            self._instance,
        )
        try:
            self.state.gateway.create_event(str(target["namespace"]), body)
        except GatewayError as error:
            # The action happened; a lost Event must not turn it into a failure.
            log.warning("could not write the Event for %s: %s", plan.action, error)


def _template_hash(pod: JSON) -> str | None:
    value = ((pod.get("metadata") or {}).get("labels") or {}).get(POD_TEMPLATE_HASH)
    return None if value is None else str(value)


def _revision_param(parameters: Any) -> int | None:
    revision = parameters.get("revision")
    return revision if isinstance(revision, int) else None


def _writes(build: Callable[[], W]) -> W:
    """A patch builder's refusal as the tool error it is."""
    try:
        return build()
    except WriteRefused as refused:
        raise ToolFailure(refused.code, refused.message) from refused


def now_text(state: ServerState) -> str:
    return state.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
