"""The gateway's pod reads: pods (list and watch), events, logs and metrics."""

from __future__ import annotations

import json
import logging
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from mcp_server.gateway_client import (
    GatewayCore,
    LogText,
    ObjectList,
    PodMetrics,
    PodWatch,
    _object_list,
)
from mcp_server.gateway_errors import (
    BudgetExhausted,
    EventsCut,
    Invalid,
    MetricsNotServed,
    NotFound,
    ServerError,
    Unavailable,
)

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

JSON = dict[str, Any]
T = TypeVar("T")


class GatewayReads(GatewayCore):
    """Every read a diagnosis, the pod cache or a verification makes."""

    def get_pod(self, namespace: str, name: str) -> JSON:
        return self._json(
            "get",
            "pods",
            lambda: self._core.read_namespaced_pod(
                name, namespace, _preload_content=False, _request_timeout=self._timeout
            ),
        )

    def list_pods(
        self,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
        timeout: float | None = None,
    ) -> ObjectList:
        """Pods, cluster-wide or in one namespace. With `limit`, one page: pass the answer's
        `continue_token` back for the next (a 410 `Gone` on a continued page means the token
        expired: list again from the start). `timeout` bounds this one request."""
        kwargs: dict[str, Any] = {
            "_preload_content": False,
            "_request_timeout": self._timeout if timeout is None else timeout,
        }
        if label_selector:
            kwargs["label_selector"] = label_selector
        if field_selector:
            kwargs["field_selector"] = field_selector
        if limit:
            kwargs["limit"] = limit
        if continue_token:
            kwargs["_continue"] = continue_token
        if namespace is None:
            data = self._json(
                "list", "pods", lambda: self._core.list_pod_for_all_namespaces(**kwargs)
            )
        else:
            data = self._json(
                "list", "pods", lambda: self._core.list_namespaced_pod(namespace, **kwargs)
            )
        return _object_list(data)

    def watch_pods(
        self,
        resource_version: str,
        *,
        namespace: str | None = None,
        timeout_seconds: int = 300,
        read_timeout: float | None = None,
    ) -> PodWatch:
        """A stream of pod events after `resource_version`, with bookmarks; `close()` ends it
        from any thread. The server ends it after `timeout_seconds`; the client gives up on a
        silent connection after `read_timeout` (default: `timeout_seconds` + 30).

        Iterating raises `Gone` when that resourceVersion is too old (re-list, start again),
        whether the server answers 410 or sends an ERROR frame with code 410.
        """
        read = float(timeout_seconds + 30) if read_timeout is None else read_timeout
        kwargs: dict[str, Any] = {
            "watch": True,
            "resource_version": resource_version,
            "allow_watch_bookmarks": True,
            "timeout_seconds": timeout_seconds,
            "_preload_content": False,
            "_request_timeout": (self._timeout, read),
        }
        if namespace is None:
            response = self._send(
                "watch", "pods", lambda: self._core.list_pod_for_all_namespaces(**kwargs)
            )
        else:
            response = self._send(
                "watch", "pods", lambda: self._core.list_namespaced_pod(namespace, **kwargs)
            )
        return PodWatch(response)

    def list_events_for(
        self, namespace: str, name: str, *, uid: str | None = None, kind: str | None = None
    ) -> list[JSON]:
        """The events about one object, by field selector (its name and namespace, and its uid
        when known, so a namesake's events are left out), read whole in pages of
        `event_page_size` (`limit` + `continue`). Each page is a request of its own: under a
        budget, a page the budget does not allow ends the list: `EventsCut` carries the events
        read so far (a first page the budget does not allow is `BudgetExhausted`)."""
        selector = f"involvedObject.name={name},involvedObject.namespace={namespace}"
        if uid:
            selector += f",involvedObject.uid={uid}"
        if kind:
            selector += f",involvedObject.kind={kind}"
        items: list[JSON] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {
                "field_selector": selector,
                "limit": self.event_page_size,
                "_preload_content": False,
            }
            if token:
                kwargs["_continue"] = token
            try:
                data = self._json("list", "events", partial(self._events_page, namespace, kwargs))
            except BudgetExhausted as error:
                if not items:
                    raise
                raise EventsCut(items, error) from error
            items.extend(item for item in data.get("items") or [] if isinstance(item, dict))
            token = str((data.get("metadata") or {}).get("continue") or "") or None
            if token is None:
                return items

    def _events_page(self, namespace: str, kwargs: dict[str, Any]) -> Any:
        return self._core.list_namespaced_event(namespace, _request_timeout=self._timeout, **kwargs)

    def read_log(
        self,
        namespace: str,
        pod: str,
        container: str,
        *,
        previous: bool = False,
        tail_lines: int | None = None,
        since_seconds: int | None = None,
        timestamps: bool = True,
    ) -> LogText:
        """A container's log, at most `log_limit_bytes` of it (`limitBytes`); unavailable logs
        are a result, not an error (kubectl goes on). A 500 — the API server could not reach
        the node's kubelet — is tried again at most once (`RetryPolicy.log_max_attempts`, and
        only within the caller's budget) and then answered as "logs unavailable"."""
        kwargs: dict[str, Any] = {
            "container": container,
            "previous": previous,
            "timestamps": timestamps,
            "limit_bytes": self.log_limit_bytes,
            "_preload_content": False,
        }
        if tail_lines is not None:
            kwargs["tail_lines"] = tail_lines
        if since_seconds is not None:
            kwargs["since_seconds"] = since_seconds
        try:
            response = self._with_retries(
                "get",
                "pods/log",
                lambda: self._core.read_namespaced_pod_log(
                    pod, namespace, _request_timeout=self._timeout, **kwargs
                ),
                max_attempts=self._retry.log_max_attempts,
            )
        except Invalid as error:
            # 400: no previous instance / container not started: "no logs here".
            return LogText(container, previous, None, error.message)
        except (ServerError, Unavailable) as error:
            # 500: the API server could not reach the kubelet (connection refused, timed out)
            # — no log of this pod can be read now; the diagnosis reports it as such.
            return LogText(
                container,
                previous,
                None,
                f"logs unavailable: {error.message}",
                unavailable=True,
            )
        except NotFound as error:
            if "pods" in error.message and pod in error.message:
                raise
            return LogText(container, previous, None, error.message)
        raw = response.data or b""
        return LogText(
            container,
            previous,
            raw.decode("utf-8", "replace"),
            truncated=len(raw) >= self.log_limit_bytes,
        )

    def get_pod_metrics(self, namespace: str, name: str) -> PodMetrics:
        try:
            response = self._with_retries(
                "get",
                "pods.metrics.k8s.io",
                lambda: self._custom.get_namespaced_custom_object(
                    "metrics.k8s.io",
                    "v1beta1",
                    namespace,
                    "pods",
                    name,
                    _preload_content=False,
                    _request_timeout=self._timeout,
                ),
            )
        except NotFound as error:
            # A JSON Status 404 names the pod (no sample yet); plain "404 page not found"
            # means the API group is not served at all.
            if "page not found" in error.message or "could not find" in error.message:
                return PodMetrics(False, None, "metrics.k8s.io is not served by this cluster")
            return PodMetrics(True, None, error.message)
        except ServerError as error:
            if error.status == 503:
                return PodMetrics(False, None, f"metrics.k8s.io unavailable: {error.message}")
            raise
        data = json.loads(response.data or b"{}")
        return PodMetrics(True, data if isinstance(data, dict) else None)

    def list_pod_metrics(self, namespace: str | None = None) -> list[JSON]:
        """Every PodMetrics (metrics.k8s.io/v1beta1), cluster-wide or in one namespace: one
        request. `MetricsNotServed` when the API group is not served (no metrics-server: 404,
        or 503 from an unavailable aggregated API); `Forbidden` without the RBAC."""
        kwargs: dict[str, Any] = {"_preload_content": False, "_request_timeout": self._timeout}
        try:
            if namespace is None:
                data = self._json(
                    "list",
                    "pods.metrics.k8s.io",
                    lambda: self._custom.list_cluster_custom_object(
                        "metrics.k8s.io", "v1beta1", "pods", **kwargs
                    ),
                )
            else:
                data = self._json(
                    "list",
                    "pods.metrics.k8s.io",
                    lambda: self._custom.list_namespaced_custom_object(
                        "metrics.k8s.io", "v1beta1", namespace, "pods", **kwargs
                    ),
                )
        except NotFound as error:
            raise MetricsNotServed(
                f"metrics.k8s.io is not served by this cluster: {error.message}", status=404
            ) from error
        except ServerError as error:
            if error.status == 503:
                raise MetricsNotServed(
                    f"metrics.k8s.io unavailable: {error.message}", status=503
                ) from error
            raise
        return [item for item in data.get("items") or [] if isinstance(item, dict)]

    # -- writes ----------------------------------------------------------------------------
