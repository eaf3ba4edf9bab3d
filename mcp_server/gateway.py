"""The Kubernetes gateway: the only module of kubemedic that calls the `kubernetes` client.

Everything comes back as plain JSON dicts, exactly as the API server sent it (the diagnostics
are pure functions over those), and every failure as a typed `GatewayError`, split into
retryable and permanent, so callers can branch on the class rather than on status codes.
Requests are counted (Prometheus, and `requests_sent` for budgets in tests), and retried a
bounded number of times, honouring `Retry-After`.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from mcp_server import metrics

log = logging.getLogger(__name__)

JSON = dict[str, Any]
T = TypeVar("T")

# --------------------------------------------------------------------------------------------
# Typed errors


class GatewayError(Exception):
    """A Kubernetes API call failed. `retryable` says whether trying again can help."""

    code = "api_error"  # the MCP error code a tool reports for it
    retryable = False

    def __init__(self, message: str, *, status: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason or type(self).__name__


class NotFound(GatewayError):
    code = "not_found"


class Conflict(GatewayError):
    # Writes carry preconditions (uid on delete, resourceVersion on patch): a 409 means the
    # object changed since it was read, so the same request must not simply be sent again.
    code = "conflict"


class Forbidden(GatewayError):
    code = "forbidden"


class NotServed(NotFound):
    """404 for a whole (sub)resource the API server does not serve (e.g. `pods/resize`
    before Kubernetes 1.33), as opposed to an object that does not exist."""


class Invalid(GatewayError):
    code = "invalid_input"


class Gone(GatewayError):
    """410: the resourceVersion a watch asked for is too old; the caller must re-list."""

    code = "api_error"


class TooManyRequests(GatewayError):
    # The API server's 429, distinct from kubemedic's own rate limits (`rate_limited`).
    code = "api_throttled"
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None, status: int = 429) -> None:
        super().__init__(message, status=status, reason="TooManyRequests")
        self.retry_after = retry_after


class ServerError(GatewayError):
    retryable = True


class Unavailable(GatewayError):
    """No answer at all (connection refused, reset, timed out)."""

    retryable = True


class ConfigurationError(GatewayError):
    """No kubeconfig or in-cluster credentials to build a client from."""


class MetricsNotServed(GatewayError):
    """metrics.k8s.io is not served by this cluster (no metrics-server)."""


def _status_message(body: str | bytes | None) -> str:
    if body is None:
        return ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip()[:500]
    if isinstance(data, dict):
        return str(data.get("message") or data.get("reason") or text)[:500]
    return text[:500]


def _retry_after(headers: Any) -> float | None:
    if not headers:
        return None
    value = headers.get("Retry-After") or headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def classify(exc: ApiException) -> GatewayError:
    """Map a client exception to its typed error."""
    status = int(exc.status or 0)
    message = _status_message(exc.body) or str(exc.reason or "")
    if status == 404:
        return NotFound(message or "not found", status=status)
    if status == 409:
        return Conflict(message or "conflict", status=status)
    if status in (401, 403):
        return Forbidden(message or "forbidden", status=status)
    if status == 410:
        return Gone(message or "gone", status=status)
    if status in (400, 422):
        return Invalid(message or "invalid", status=status)
    if status == 429:
        return TooManyRequests(
            message or "too many requests", retry_after=_retry_after(exc.headers)
        )
    if status >= 500 or status == 0:
        return ServerError(message or f"server error {status}", status=status)
    return GatewayError(message or f"HTTP {status}", status=status)


# --------------------------------------------------------------------------------------------
# Retry policy


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    base_delay: float = 0.2
    max_delay: float = 10.0  # also caps a server's Retry-After, so a tool call stays bounded

    def delay(self, attempt: int, error: GatewayError) -> float:
        if isinstance(error, TooManyRequests) and error.retry_after is not None:
            return min(float(error.retry_after), self.max_delay)
        return float(min(self.base_delay * 2.0 ** (attempt - 1), self.max_delay))


# --------------------------------------------------------------------------------------------
# Results


@dataclass
class ObjectList:
    items: list[JSON]
    resource_version: str


@dataclass
class WatchEvent:
    type: str  # ADDED, MODIFIED, DELETED, BOOKMARK
    object: JSON


@dataclass
class LogText:
    container: str
    previous: bool
    text: str | None  # None: unavailable (never ran, no previous instance, node unreachable)
    error: str | None = None


@dataclass
class PodMetrics:
    served: bool  # metrics.k8s.io is served at all
    item: JSON | None  # the PodMetrics object, None when the pod has none yet
    message: str = ""


@dataclass
class DiagnosisInputs:
    """What a diagnosis reads, fetched in at most `MAX_DIAGNOSIS_REQUESTS` API requests."""

    pod: JSON
    events: list[JSON] = field(default_factory=list)
    logs: list[LogText] = field(default_factory=list)
    metrics: PodMetrics | None = None
    replicasets: list[JSON] = field(default_factory=list)  # all in the namespace
    deployment: JSON | None = None
    nodes: list[JSON] = field(default_factory=list)
    # Read only before a write (see `fetch_guard_rails`): they bound what a write may do.
    pdbs: list[JSON] = field(default_factory=list)
    limit_ranges: list[JSON] = field(default_factory=list)
    guard_rails_read: bool = False
    requests_used: int = 0
    skipped: list[str] = field(default_factory=list)  # what the budget left out, and why


MAX_DIAGNOSIS_REQUESTS = 5


class PodWatch:
    """One open watch stream. Iterate for events; `close()` (any thread) ends the stream."""

    def __init__(self, response: Any) -> None:
        self._response = response
        self.closed = False

    def __iter__(self) -> Iterator[WatchEvent]:
        try:
            yield from _watch_lines(self._response)
        except (urllib3.exceptions.HTTPError, OSError, ValueError, AttributeError) as exc:
            if self.closed:
                return
            raise Unavailable(f"watch stream broke: {exc}") from exc
        finally:
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            # Shut the socket down first: that wakes a reader blocked in another thread,
            # which closing the response alone does not.
            sock = getattr(getattr(self._response, "connection", None), "sock", None)
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self._response.close()
            self._response.release_conn()
        except Exception:  # noqa: BLE001 - closing a broken stream must not fail the caller
            log.debug("closing a watch stream failed", exc_info=True)


# --------------------------------------------------------------------------------------------
# The gateway


def _resource_of(path: str) -> str:
    """`/api/v1/namespaces/d/pods/x/log` -> `pods/log`; bounded label for metrics."""
    parts = [p for p in path.split("?")[0].split("/") if p]
    if "namespaces" in parts:
        i = parts.index("namespaces")
        rest = parts[i + 2 :]
        if not rest:
            return "namespaces"
        parts = rest
    elif parts[:1] == ["api"]:
        parts = parts[2:]
    elif parts[:1] == ["apis"]:
        parts = parts[3:]
    if not parts:
        return "other"
    resource = parts[0]
    if len(parts) >= 3:
        resource += "/" + parts[2]
    return resource[:40]


CONNECTION_POOL_SIZE = 32
# How long what discovery said about a subresource is believed: a cluster upgraded meanwhile
# is seen again within this time.
DISCOVERY_TTL_SECONDS = 600.0


def load_api_client(kubeconfig: Path | str | None = None, context: str | None = None) -> Any:
    """An ApiClient from a kubeconfig file, else in-cluster service-account credentials."""
    configuration = k8s.Configuration()
    # Tools run in worker threads; the default pool of 10 would churn connections under load.
    configuration.connection_pool_maxsize = CONNECTION_POOL_SIZE
    load_file: Callable[..., None] = k8s_config.load_kube_config
    in_cluster: Callable[..., None] = k8s_config.load_incluster_config
    try:
        if kubeconfig is not None:
            load_file(
                config_file=str(kubeconfig), context=context, client_configuration=configuration
            )
            return k8s.ApiClient(configuration)
        try:
            load_file(context=context, client_configuration=configuration)
        except (k8s_config.ConfigException, OSError, TypeError):
            in_cluster(client_configuration=configuration)
    except (k8s_config.ConfigException, OSError, TypeError, ValueError) as error:
        where = str(kubeconfig) if kubeconfig is not None else "KUBECONFIG, ~/.kube or in-cluster"
        raise ConfigurationError(f"no usable cluster credentials ({where}): {error}") from error
    return k8s.ApiClient(configuration)


class Gateway:
    """Typed, counted, retried access to the few Kubernetes resources kubemedic touches."""

    def __init__(
        self,
        api_client: Any,
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        request_timeout: float = 30.0,
        event_source: str = "kubemedic",
    ) -> None:
        self._api = api_client
        self._core = k8s.CoreV1Api(api_client)
        self._apps = k8s.AppsV1Api(api_client)
        self._policy = k8s.PolicyV1Api(api_client)
        self._custom = k8s.CustomObjectsApi(api_client)
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._timeout = request_timeout
        self.event_source = event_source
        self.requests_sent = 0
        self._count_lock = threading.Lock()
        # What discovery said about pods/resize on this gateway's API server: (served, when).
        self._resize_served: tuple[bool, float] | None = None
        # Per-thread count: a diagnosis' budget must not be spent by other threads' requests.
        self._thread_counts = threading.local()

    @classmethod
    def from_kubeconfig(
        cls, kubeconfig: Path | str | None = None, context: str | None = None, **kwargs: Any
    ) -> Gateway:
        return cls(load_api_client(kubeconfig, context), **kwargs)

    def close(self) -> None:
        self._api.close()

    @property
    def requests_sent_by_this_thread(self) -> int:
        return int(getattr(self._thread_counts, "sent", 0))

    # -- plumbing --------------------------------------------------------------------------

    def _send(self, verb: str, resource: str, call: Callable[[], Any]) -> Any:
        """One HTTP request: count it, classify its failure."""
        with self._count_lock:
            self.requests_sent += 1
        self._thread_counts.sent = self.requests_sent_by_this_thread + 1
        try:
            response = call()
        except ApiException as exc:
            error = classify(exc)
            metrics.k8s_api_requests_total.labels(verb, resource, str(exc.status or 0)).inc()
            metrics.k8s_api_errors_total.labels(verb, error.reason).inc()
            raise error from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            metrics.k8s_api_requests_total.labels(verb, resource, "none").inc()
            metrics.k8s_api_errors_total.labels(verb, "Unavailable").inc()
            raise Unavailable(f"Kubernetes API unreachable: {exc}") from exc
        metrics.k8s_api_requests_total.labels(verb, resource, str(response.status)).inc()
        return response

    def _with_retries(
        self, verb: str, resource: str, call: Callable[[], Any], *, write: bool = False
    ) -> Any:
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._send(verb, resource, call)
            except GatewayError as error:
                # A write that reached a failing server may have been applied: only retry
                # writes the server did not process (429). A 409 is a failed precondition.
                may_retry = error.retryable and (not write or isinstance(error, TooManyRequests))
                if not may_retry or attempt >= self._retry.max_attempts:
                    raise
                delay = self._retry.delay(attempt, error)
                log.info("retrying %s %s after %s in %.2fs", verb, resource, error.reason, delay)
                self._sleep(delay)

    def _json(
        self, verb: str, resource: str, call: Callable[[], Any], *, write: bool = False
    ) -> JSON:
        response = self._with_retries(verb, resource, call, write=write)
        data = json.loads(response.data or b"{}")
        if not isinstance(data, dict):
            raise GatewayError(f"unexpected response for {verb} {resource}")
        return data

    # -- reads -----------------------------------------------------------------------------

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
    ) -> ObjectList:
        kwargs: dict[str, Any] = {"_preload_content": False, "_request_timeout": self._timeout}
        if label_selector:
            kwargs["label_selector"] = label_selector
        if field_selector:
            kwargs["field_selector"] = field_selector
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
        self, resource_version: str, *, namespace: str | None = None, timeout_seconds: int = 300
    ) -> PodWatch:
        """A stream of pod events after `resource_version`; `close()` ends it from any thread.

        Iterating raises `Gone` when that resourceVersion is too old (re-list, start again).
        """
        kwargs: dict[str, Any] = {
            "watch": True,
            "resource_version": resource_version,
            "allow_watch_bookmarks": True,
            "timeout_seconds": timeout_seconds,
            "_preload_content": False,
            "_request_timeout": (self._timeout, timeout_seconds + 30),
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
        selector = f"involvedObject.name={name},involvedObject.namespace={namespace}"
        if uid:
            selector += f",involvedObject.uid={uid}"
        if kind:
            selector += f",involvedObject.kind={kind}"
        data = self._json(
            "list",
            "events",
            lambda: self._core.list_namespaced_event(
                namespace,
                field_selector=selector,
                limit=500,
                _preload_content=False,
                _request_timeout=self._timeout,
            ),
        )
        return list(data.get("items") or [])

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
        """A container's log; unavailable logs are a result, not an error (kubectl goes on)."""
        kwargs: dict[str, Any] = {
            "container": container,
            "previous": previous,
            "timestamps": timestamps,
            "_preload_content": False,
            "_request_timeout": self._timeout,
        }
        if tail_lines is not None:
            kwargs["tail_lines"] = tail_lines
        if since_seconds is not None:
            kwargs["since_seconds"] = since_seconds
        try:
            response = self._with_retries(
                "get",
                "pods/log",
                lambda: self._core.read_namespaced_pod_log(pod, namespace, **kwargs),
            )
        except (Invalid, ServerError) as error:
            # 400: no previous instance / container not started; 500: the kubelet is
            # unreachable. Both mean "no logs here", which the diagnosis reports.
            return LogText(container, previous, None, error.message)
        except NotFound as error:
            if "pods" in error.message and pod in error.message:
                raise
            return LogText(container, previous, None, error.message)
        raw = response.data or b""
        return LogText(container, previous, raw.decode("utf-8", "replace"))

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

    def list_nodes(self) -> list[JSON]:
        data = self._json(
            "list",
            "nodes",
            lambda: self._core.list_node(_preload_content=False, _request_timeout=self._timeout),
        )
        return list(data.get("items") or [])

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

    # -- writes ----------------------------------------------------------------------------

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


def _object_list(data: JSON) -> ObjectList:
    return ObjectList(
        items=list(data.get("items") or []),
        resource_version=str((data.get("metadata") or {}).get("resourceVersion") or ""),
    )


def _watch_lines(response: Any) -> Iterator[WatchEvent]:
    buffer = b""
    for chunk in response.stream(amt=65536, decode_content=True):
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            event = _watch_event(line)
            if event is not None:
                yield event
    if buffer.strip():
        event = _watch_event(buffer)
        if event is not None:
            yield event


def _watch_event(line: bytes) -> WatchEvent | None:
    if not line.strip():
        return None
    data = json.loads(line)
    kind = str(data.get("type") or "")
    obj = data.get("object") or {}
    if kind == "ERROR":
        code = int(obj.get("code") or 0)
        message = str(obj.get("message") or "watch error")
        if code == 410:
            raise Gone(message, status=410)
        raise ServerError(message, status=code or None)
    return WatchEvent(kind, obj)
