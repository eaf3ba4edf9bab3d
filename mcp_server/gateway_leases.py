"""The gateway's Lease calls for leader election (coordination.k8s.io/v1), one attempt each."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar, cast

from kubernetes import client as k8s

from mcp_server.gateway_client import GatewayCore
from mcp_server.gateway_errors import GatewayError

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

JSON = dict[str, Any]
T = TypeVar("T")


class _MicroTime(datetime):
    """A datetime the client serialises as MicroTime: `2026-12-07T10:00:00.000000Z`."""

    def isoformat(self, sep: str = "T", timespec: str = "auto") -> str:
        return self.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class GatewayLeases(GatewayCore):
    """get / create / replace of one Lease; a 409 is `Conflict` (a stale resourceVersion)."""

    @cached_property
    def _coordination(self) -> Any:
        return k8s.CoordinationV1Api(self._api)

    @staticmethod
    def _lease_body(lease: JSON) -> Any:
        """The client turns a dict body into its model and writes datetimes with isoformat(),
        which drops the fraction at whole seconds; the server wants MicroTime (six digits)."""
        spec = dict(lease.get("spec") or {})
        for key in ("acquireTime", "renewTime"):
            value = spec.get(key)
            if isinstance(value, str):
                spec[key] = _MicroTime.fromisoformat(value.replace("Z", "+00:00"))
        return cast(Any, {**lease, "spec": spec})

    def _lease_call(self, verb: str, call: Callable[[], Any]) -> JSON:
        response = self._with_retries(verb, "leases", call, write=verb != "get", max_attempts=1)
        data = json.loads(response.data or b"{}")
        if not isinstance(data, dict):
            raise GatewayError(f"unexpected response for {verb} leases")
        return data

    def get_lease(self, namespace: str, name: str, *, timeout: float | None = None) -> JSON:
        return self._lease_call(
            "get",
            lambda: self._coordination.read_namespaced_lease(
                name, namespace, _preload_content=False, _request_timeout=timeout or self._timeout
            ),
        )

    def create_lease(self, namespace: str, lease: JSON, *, timeout: float | None = None) -> JSON:
        return self._lease_call(
            "create",
            lambda: self._coordination.create_namespaced_lease(
                namespace,
                self._lease_body(lease),
                field_manager="kubemedic",
                _preload_content=False,
                _request_timeout=timeout or self._timeout,
            ),
        )

    def replace_lease(
        self, namespace: str, name: str, lease: JSON, *, timeout: float | None = None
    ) -> JSON:
        """PUT the whole Lease; its metadata.resourceVersion makes it conditional."""
        return self._lease_call(
            "update",
            lambda: self._coordination.replace_namespaced_lease(
                name,
                namespace,
                self._lease_body(lease),
                field_manager="kubemedic",
                _preload_content=False,
                _request_timeout=timeout or self._timeout,
            ),
        )
