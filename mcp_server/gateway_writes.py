"""The gateway's writes: pod deletes, workload patches, resizes, scale and Events, each with
its precondition."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, TypeVar, cast

from mcp_server.gateway_client import GatewayCore
from mcp_server.gateway_errors import Invalid, NotFound, NotServed

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

JSON = dict[str, Any]
T = TypeVar("T")


class GatewayWrites(GatewayCore):
    """The writes the executor sends (never retried on a 409: it is a failed precondition)."""

    def delete_pod(
        self, namespace: str, name: str, *, dry_run: bool = False, uid: str | None = None
    ) -> JSON:
        """Delete one pod; with `uid`, only that incarnation (a precondition, not a race)."""
        body: JSON = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if uid:
            body["preconditions"] = {"uid": uid}
        if dry_run:
            body["dryRun"] = ["All"]
        return self._json(
            "delete",
            "pods",
            lambda: self._core.delete_namespaced_pod(
                name,
                namespace,
                body=cast(Any, body),  # the client sends a plain dict as it is
                dry_run="All" if dry_run else None,
                _preload_content=False,
                _request_timeout=self._timeout,
            ),
            write=True,
        )

    def patch_deployment(
        self,
        namespace: str,
        name: str,
        patch: Any,
        *,
        patch_type: str = "json",
        dry_run: bool = False,
    ) -> JSON:
        content_type = {
            "json": "application/json-patch+json",
            "merge": "application/merge-patch+json",
            "strategic": "application/strategic-merge-patch+json",
        }[patch_type]
        return self._json(
            "patch",
            "deployments",
            lambda: self._apps.patch_namespaced_deployment(
                name,
                namespace,
                patch,
                dry_run="All" if dry_run else None,
                field_manager="kubemedic",
                _content_type=content_type,
                _preload_content=False,
                _request_timeout=self._timeout,
            ),
            write=True,
        )

    def patch_workload(
        self,
        kind: str,
        namespace: str,
        name: str,
        patch: Any,
        *,
        patch_type: str = "json",
        dry_run: bool = False,
    ) -> JSON:
        """Patch a Deployment, StatefulSet or DaemonSet (its pod template)."""
        if kind == "Deployment":
            return self.patch_deployment(
                namespace, name, patch, patch_type=patch_type, dry_run=dry_run
            )
        send = {
            "StatefulSet": ("statefulsets", self._apps.patch_namespaced_stateful_set),
            "DaemonSet": ("daemonsets", self._apps.patch_namespaced_daemon_set),
        }.get(kind)
        if send is None:
            raise Invalid(f"{kind} is not a workload kind this server patches", status=422)
        resource, call = send
        content_type = {
            "json": "application/json-patch+json",
            "merge": "application/merge-patch+json",
            "strategic": "application/strategic-merge-patch+json",
        }[patch_type]
        return self._json(
            "patch",
            resource,
            lambda: call(
                name,
                namespace,
                patch,
                dry_run="All" if dry_run else None,
                field_manager="kubemedic",
                _content_type=content_type,
                _preload_content=False,
                _request_timeout=self._timeout,
            ),
            write=True,
        )

    def patch_pod_resize(
        self, namespace: str, name: str, patch: JSON, *, dry_run: bool = False
    ) -> JSON:
        """A strategic-merge patch of the pod's `resize` subresource, as
        `kubectl patch pod NAME --subresource resize` sends it. Raises `NotServed` (and
        remembers it) when the server has no such subresource."""
        try:
            return self._json(
                "patch",
                "pods/resize",
                lambda: self._core.patch_namespaced_pod_resize(
                    name,
                    namespace,
                    patch,
                    dry_run="All" if dry_run else None,
                    field_manager="kubemedic",
                    _content_type="application/strategic-merge-patch+json",
                    _preload_content=False,
                    _request_timeout=self._timeout,
                ),
                write=True,
            )
        except NotFound as error:
            if f'pods "{name}" not found' in error.message:
                raise  # the pod is gone; the subresource is there
            self._resize_served = (False, time.monotonic())
            raise NotServed(error.message, status=error.status, reason="NotFound") from error

    def scale_deployment(
        self, namespace: str, name: str, replicas: int, *, dry_run: bool = False
    ) -> JSON:
        return self._json(
            "patch",
            "deployments/scale",
            lambda: self._apps.patch_namespaced_deployment_scale(
                name,
                namespace,
                {"spec": {"replicas": replicas}},
                dry_run="All" if dry_run else None,
                field_manager="kubemedic",
                _content_type="application/merge-patch+json",
                _preload_content=False,
                _request_timeout=self._timeout,
            ),
            write=True,
        )

    def create_event(self, namespace: str, event: JSON) -> JSON:
        return self._json(
            "create",
            "events",
            lambda: self._core.create_namespaced_event(
                namespace, cast(Any, event), _preload_content=False, _request_timeout=self._timeout
            ),
            write=True,
        )

    # -- coordination.k8s.io/v1 Leases (leader election) --------------------------------------
    # One attempt each: the elector retries on its own period, and a request may not outlast
    # its renew deadline (`timeout`). A stale resourceVersion or a lost create race: Conflict.
