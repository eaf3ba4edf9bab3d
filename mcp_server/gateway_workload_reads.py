"""The gateway's workload and cluster reads: replica sets, disruption budgets, limit ranges,
workloads and their revisions, jobs, claims, nodes, endpoint slices, namespaces, and what
discovery says about `pods/resize`."""

from __future__ import annotations

import time
from typing import Any

from mcp_server.gateway_client import DISCOVERY_TTL_SECONDS, GatewayCore
from mcp_server.gateway_errors import Invalid

JSON = dict[str, Any]


class GatewayWorkloadReads(GatewayCore):
    """The reads about what owns, schedules and serves pods, and the cluster around them."""

    def list_replicasets(self, namespace: str, *, label_selector: str | None = None) -> list[JSON]:
        kwargs: dict[str, Any] = {"_preload_content": False, "_request_timeout": self._timeout}
        if label_selector:
            kwargs["label_selector"] = label_selector
        data = self._json(
            "list",
            "replicasets",
            lambda: self._apps.list_namespaced_replica_set(namespace, **kwargs),
        )
        return list(data.get("items") or [])

    def list_pod_disruption_budgets(self, namespace: str) -> list[JSON]:
        data = self._json(
            "list",
            "poddisruptionbudgets",
            lambda: self._policy.list_namespaced_pod_disruption_budget(
                namespace, _preload_content=False, _request_timeout=self._timeout
            ),
        )
        return list(data.get("items") or [])

    def list_limit_ranges(self, namespace: str) -> list[JSON]:
        data = self._json(
            "list",
            "limitranges",
            lambda: self._core.list_namespaced_limit_range(
                namespace, _preload_content=False, _request_timeout=self._timeout
            ),
        )
        return list(data.get("items") or [])

    def get_deployment(self, namespace: str, name: str) -> JSON:
        return self._json(
            "get",
            "deployments",
            lambda: self._apps.read_namespaced_deployment(
                name, namespace, _preload_content=False, _request_timeout=self._timeout
            ),
        )

    def get_workload(self, kind: str, namespace: str, name: str) -> JSON:
        """A Deployment, StatefulSet or DaemonSet (the kinds whose template the server
        patches)."""
        if kind == "Deployment":
            return self.get_deployment(namespace, name)
        read = {
            "StatefulSet": ("statefulsets", self._apps.read_namespaced_stateful_set),
            "DaemonSet": ("daemonsets", self._apps.read_namespaced_daemon_set),
        }.get(kind)
        if read is None:
            raise Invalid(f"{kind} is not a workload kind this server reads", status=422)
        resource, call = read
        return self._json(
            "get",
            resource,
            lambda: call(name, namespace, _preload_content=False, _request_timeout=self._timeout),
        )

    def list_controller_revisions(
        self, namespace: str, *, label_selector: str | None = None
    ) -> list[JSON]:
        kwargs: dict[str, Any] = {"_preload_content": False, "_request_timeout": self._timeout}
        if label_selector:
            kwargs["label_selector"] = label_selector
        data = self._json(
            "list",
            "controllerrevisions",
            lambda: self._apps.list_namespaced_controller_revision(namespace, **kwargs),
        )
        return list(data.get("items") or [])

    def list_nodes(self) -> list[JSON]:
        data = self._json(
            "list",
            "nodes",
            lambda: self._core.list_node(_preload_content=False, _request_timeout=self._timeout),
        )
        return list(data.get("items") or [])

    def get_job(self, namespace: str, name: str) -> JSON:
        return self._json(
            "get",
            "jobs",
            lambda: self._batch.read_namespaced_job(
                name, namespace, _preload_content=False, _request_timeout=self._timeout
            ),
        )

    def get_cronjob(self, namespace: str, name: str) -> JSON:
        return self._json(
            "get",
            "cronjobs",
            lambda: self._batch.read_namespaced_cron_job(
                name, namespace, _preload_content=False, _request_timeout=self._timeout
            ),
        )

    def get_persistent_volume_claim(self, namespace: str, name: str) -> JSON:
        return self._json(
            "get",
            "persistentvolumeclaims",
            lambda: self._core.read_namespaced_persistent_volume_claim(
                name, namespace, _preload_content=False, _request_timeout=self._timeout
            ),
        )

    def get_node(self, name: str) -> JSON:
        return self._json(
            "get",
            "nodes",
            lambda: self._core.read_node(
                name, _preload_content=False, _request_timeout=self._timeout
            ),
        )

    def list_endpoint_slices(self, namespace: str) -> list[JSON]:
        data = self._json(
            "list",
            "endpointslices",
            lambda: self._discovery.list_namespaced_endpoint_slice(
                namespace, _preload_content=False, _request_timeout=self._timeout
            ),
        )
        return [item for item in data.get("items") or [] if isinstance(item, dict)]

    def get_namespace(self, name: str) -> JSON:
        return self._json(
            "get",
            "namespaces",
            lambda: self._core.read_namespace(
                name, _preload_content=False, _request_timeout=self._timeout
            ),
        )

    # -- discovery -------------------------------------------------------------------------

    def serves_pod_resize(self) -> bool:
        """Whether the API server serves the `pods/resize` subresource (Kubernetes 1.33+),
        from the `/api/v1` resource list: one request, then remembered for this server for
        `DISCOVERY_TTL_SECONDS` (a 404 from the subresource meanwhile also means no).
        A failed discovery raises (and is not remembered)."""
        known = self._resize_served
        if known is not None and time.monotonic() - known[1] < DISCOVERY_TTL_SECONDS:
            return known[0]
        data = self._json(
            "get",
            "apiresources",
            lambda: self._core.get_api_resources(
                _preload_content=False, _request_timeout=self._timeout
            ),
        )
        served = any(
            isinstance(r, dict) and r.get("name") == "pods/resize"
            for r in data.get("resources") or []
        )
        self._resize_served = (served, time.monotonic())
        return served
