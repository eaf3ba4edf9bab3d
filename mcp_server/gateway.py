"""The Kubernetes gateway: the only module of kubemedic that calls the `kubernetes` client.

Everything comes back as plain JSON dicts, exactly as the API server sent it (the diagnostics
are pure functions over those), and every failure as a typed `GatewayError`, split into
retryable and permanent, so callers can branch on the class rather than on status codes.
Requests are counted (Prometheus, and `requests_sent` for budgets in tests), and retried a
bounded number of times with exponential back-off and full jitter, honouring `Retry-After`.
A caller can bound a whole sequence of reads (`with gateway.budget(requests=5, seconds=20)`):
retries count, each request's timeout shrinks to the time left, and once the budget is spent
the next request is not sent (`BudgetExhausted`).
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from mcp_server import metrics

if TYPE_CHECKING:
    from mcp_server.config import ServerConfig

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
    """No kubeconfig or in-cluster credentials to build a client from, or a kubeconfig that
    kubemedic refuses (impersonation the client would silently ignore)."""


class BudgetExhausted(GatewayError):
    """The caller's request or time budget is spent: the request was not sent."""

    code = "api_error"


class EventsCut(BudgetExhausted):
    """The budget ran out between pages of events: `items` is what was read."""

    def __init__(self, items: list[JSON], cause: BudgetExhausted) -> None:
        super().__init__(f"events cut after {len(items)}: {cause.message}", reason=cause.reason)
        self.items = items


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
    """Bounded retries: exponential back-off with full jitter (a random delay between 0 and
    `base_delay * 2**(attempt-1)`, capped at `max_delay`), so that many callers failing
    together do not come back together; a server's `Retry-After` is honoured as given (capped).
    A pods/log 500 (the API server could not reach the node's kubelet) is tried at most
    `log_max_attempts` times: a dead kubelet does not come back within a tool call."""

    max_attempts: int = 4
    base_delay: float = 0.2
    max_delay: float = 10.0  # also caps a server's Retry-After, so a tool call stays bounded
    log_max_attempts: int = 2
    jitter: Callable[[], float] = random.random  # uniform in [0, 1)

    def delay(self, attempt: int, error: GatewayError) -> float:
        if isinstance(error, TooManyRequests) and error.retry_after is not None:
            return min(float(error.retry_after), self.max_delay)
        ceiling = min(self.base_delay * 2.0 ** (attempt - 1), self.max_delay)
        return float(ceiling * self.jitter())


@dataclass
class RequestBudget:
    """What a sequence of requests (a diagnosis) may still spend: requests and wall time."""

    requests: int | None
    seconds: float | None
    started_count: int
    started_at: float
    monotonic: Callable[[], float]

    def deadline_left(self) -> float | None:
        if self.seconds is None:
            return None
        return self.seconds - (self.monotonic() - self.started_at)

    def describe(self) -> str:
        parts = []
        if self.requests is not None:
            parts.append(f"{self.requests} requests")
        if self.seconds is not None:
            parts.append(f"{self.seconds:g}s")
        return " / ".join(parts) or "unbounded"


# --------------------------------------------------------------------------------------------
# Results


@dataclass
class ObjectList:
    items: list[JSON]
    resource_version: str
    continue_token: str = ""  # set when a `limit`ed list has more pages


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
    # The read failed on the server's side (a pods/log 500: the API server could not reach the
    # node's kubelet; or no answer in time): no other log of this pod is worth a request now.
    unavailable: bool = False
    # The log reached `limitBytes`: the server cut it there (the newest lines may be missing).
    truncated: bool = False


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
    # A StatefulSet's or DaemonSet's pod: the workload, and its ControllerRevisions (its
    # rollout history, as `kubectl rollout history` reads it: by the workload's selector).
    workload: JSON | None = None
    controller_revisions: list[JSON] = field(default_factory=list)
    nodes: list[JSON] = field(default_factory=list)
    # The kinds that make pods fail (mcp_server/owner_reads.py decides which are read).
    job: JSON | None = None
    cronjob: JSON | None = None
    cronjob_events: list[JSON] = field(default_factory=list)
    claims: list[JSON] = field(default_factory=list)
    claim_events: list[JSON] = field(default_factory=list)
    missing_claims: list[str] = field(default_factory=list)
    node: JSON | None = None  # the pod's own node
    endpointslices: list[JSON] | None = None  # the namespace's, when read
    daemon_nodes: list[JSON] | None = None
    daemon_pods: list[JSON] | None = None
    # Read only before a write (see `fetch_guard_rails`): they bound what a write may do.
    pdbs: list[JSON] = field(default_factory=list)
    limit_ranges: list[JSON] = field(default_factory=list)
    guard_rails_read: bool = False
    requests_used: int = 0
    skipped: list[str] = field(default_factory=list)  # what the budget left out, and why
    read_at: datetime | None = None  # the server's clock when the pod was read


MAX_DIAGNOSIS_REQUESTS = 5
DIAGNOSIS_BUDGET_SECONDS = 20.0
LOG_LIMIT_BYTES = 256 * 1024
EVENT_PAGE_SIZE = 500


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


# A kubeconfig user's impersonation fields (kubectl's --as, --as-group, --as-uid). The official
# Python client ignores them all: it would act with the user's own, usually wider, credentials.
IMPERSONATION_FIELDS = ("as", "as-groups", "as-uid", "as-user-extra")


def load_api_client(kubeconfig: Path | str | None = None, context: str | None = None) -> Any:
    """An ApiClient, as client-go's loading rules pick the credentials:

    - `kubeconfig` given: that file (with `context`, that context);
    - else `KUBECONFIG` set: those files (merged, as kubectl merges them);
    - else inside a pod (`KUBERNETES_SERVICE_HOST` set) and no `context` asked for: the pod's
      service account (in-cluster);
    - else `~/.kube/config`.

    A kubeconfig whose user impersonates someone (`as`, `as-groups`, `as-uid`,
    `as-user-extra`) is refused with `ConfigurationError`: the client would silently ignore
    the impersonation and kubemedic would run with the full credentials instead.
    """
    configuration = k8s.Configuration()
    # Tools run in worker threads; the default pool of 10 would churn connections under load.
    configuration.connection_pool_maxsize = CONNECTION_POOL_SIZE
    env_files = os.environ.get("KUBECONFIG", "").strip()
    in_pod = bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    where = "in-cluster service account"
    try:
        if kubeconfig is None and not env_files and in_pod and context is None:
            in_cluster: Callable[..., None] = k8s_config.load_incluster_config
            in_cluster(client_configuration=configuration)
            return k8s.ApiClient(configuration)
        if kubeconfig is not None:
            where = str(kubeconfig)
        elif env_files:
            where = f"KUBECONFIG={env_files}"
        else:
            where = "~/.kube/config"
        files = str(kubeconfig) if kubeconfig is not None else env_files or "~/.kube/config"
        loader = _kubeconfig_loader(files, context)
        loader.load_and_set(configuration)
    except ConfigurationError as error:
        raise ConfigurationError(
            f"no usable cluster credentials ({where}): {error.message}"
        ) from None
    except (k8s_config.ConfigException, OSError, TypeError, ValueError, KeyError) as error:
        raise ConfigurationError(f"no usable cluster credentials ({where}): {error}") from error
    return k8s.ApiClient(configuration)


def _kubeconfig_loader(files: str, context: str | None) -> Any:
    """The client's kubeconfig loader for `files` (':'-separated), its context checked and its
    user checked for impersonation."""
    from kubernetes.config import kube_config

    merger: Any = kube_config.KubeConfigMerger  # untyped
    loader: Any = kube_config.KubeConfigLoader
    merged = merger(files)
    if merged.config is None:
        raise ConfigurationError("no kubeconfig found")
    data = _plain(merged.config)
    contexts = {
        str(_plain(c).get("name")): _plain(_plain(c).get("context")) or {}
        for c in data.get("contexts") or []
    }
    name = context or data.get("current-context")
    if not name:
        raise ConfigurationError("the kubeconfig names no current-context; pass --context")
    if str(name) not in contexts:
        known = ", ".join(sorted(contexts)) or "none"
        raise ConfigurationError(f'context "{name}" is not in the kubeconfig (contexts: {known})')
    user_name = (contexts[str(name)] or {}).get("user")
    for entry in data.get("users") or []:
        entry = _plain(entry)
        if user_name is None or entry.get("name") != user_name:
            continue
        user = _plain(entry.get("user")) or {}
        used = [key for key in IMPERSONATION_FIELDS if key in user and user[key]]
        if used:
            raise ConfigurationError(
                f'user "{user_name}" of context "{name}" impersonates ({", ".join(used)}), '
                "which the Kubernetes Python client ignores: kubemedic would act with the "
                "user's own credentials instead. Refused: give kubemedic a kubeconfig whose "
                "user is the identity it should act as (e.g. a ServiceAccount token), "
                "without as / as-groups / as-uid"
            )
    return loader(config_dict=merged.config, active_context=str(name), config_base_path=None)


def _plain(node: Any) -> Any:
    """The value under the client's `ConfigNode` wrapper (merged kubeconfigs mix both)."""
    return getattr(node, "value", node) if node is not None else None


class Gateway:
    """Typed, counted, retried access to the few Kubernetes resources kubemedic touches."""

    def __init__(
        self,
        api_client: Any,
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        request_timeout: float = 30.0,
        event_source: str = "kubemedic",
        diagnosis_budget_seconds: float = DIAGNOSIS_BUDGET_SECONDS,
        log_limit_bytes: int = LOG_LIMIT_BYTES,
        event_page_size: int = EVENT_PAGE_SIZE,
    ) -> None:
        self._api = api_client
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._monotonic = monotonic
        # The server's wall clock (ServerState sets its own): when a diagnosis was read.
        self.wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self._request_timeout = request_timeout
        self.event_source = event_source
        # A diagnosis' wall-time budget (retries and back-off included); see `budget`.
        self.diagnosis_budget_seconds = diagnosis_budget_seconds
        self.log_limit_bytes = log_limit_bytes
        self.event_page_size = event_page_size
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

    @classmethod
    def from_config(cls, config: ServerConfig, **kwargs: Any) -> Gateway:
        """The gateway a server configuration describes (credentials, budgets, bounds)."""
        options: dict[str, Any] = {
            "diagnosis_budget_seconds": config.diagnosis_budget_seconds,
            "log_limit_bytes": config.log_limit_bytes,
            **kwargs,
        }
        return cls.from_kubeconfig(config.kubeconfig, config.context, **options)

    # The client's API classes are built on first use: importing them (core_v1_api alone is
    # 30,000 lines) would cost an MCP server's start about a second before its first answer.
    @cached_property
    def _core(self) -> Any:
        return k8s.CoreV1Api(self._api)

    @cached_property
    def _apps(self) -> Any:
        return k8s.AppsV1Api(self._api)

    @cached_property
    def _policy(self) -> Any:
        return k8s.PolicyV1Api(self._api)

    @cached_property
    def _custom(self) -> Any:
        return k8s.CustomObjectsApi(self._api)

    @cached_property
    def _batch(self) -> Any:
        return k8s.BatchV1Api(self._api)

    @cached_property
    def _discovery(self) -> Any:
        return k8s.DiscoveryV1Api(self._api)

    def close(self) -> None:
        self._api.close()

    @property
    def requests_sent_by_this_thread(self) -> int:
        return int(getattr(self._thread_counts, "sent", 0))

    @contextmanager
    def budget(
        self, *, requests: int | None = None, seconds: float | None = None
    ) -> Iterator[RequestBudget]:
        """Bound every request this thread sends inside the block: at most `requests` (retries
        count) within `seconds` of wall time (back-off included; each request's timeout is cut
        to the time left). Once spent, a request is not sent: `BudgetExhausted`. Nested
        budgets: the inner one applies."""
        outer = getattr(self._thread_counts, "budget", None)
        current = RequestBudget(
            requests, seconds, self.requests_sent_by_this_thread, self._monotonic(), self._monotonic
        )
        self._thread_counts.budget = current
        try:
            yield current
        finally:
            self._thread_counts.budget = outer

    def budget_left(self) -> tuple[int | None, float | None]:
        """(requests, seconds) this thread's budget still allows; None: unbounded."""
        budget: RequestBudget | None = getattr(self._thread_counts, "budget", None)
        if budget is None:
            return None, None
        requests = None
        if budget.requests is not None:
            used = self.requests_sent_by_this_thread - budget.started_count
            requests = max(0, budget.requests - used)
        return requests, budget.deadline_left()

    @property
    def _timeout(self) -> float:
        """A request's timeout: the configured one, cut to what this thread's budget leaves."""
        _, seconds = self.budget_left()
        if seconds is None:
            return self._request_timeout
        return max(0.05, min(self._request_timeout, seconds))

    def _check_budget(self, verb: str, resource: str) -> None:
        requests, seconds = self.budget_left()
        if requests is not None and requests <= 0:
            budget: RequestBudget = self._thread_counts.budget
            raise BudgetExhausted(
                f"request budget of {budget.requests} spent before {verb} {resource}",
                reason="RequestBudget",
            )
        if seconds is not None and seconds <= 0:
            budget = self._thread_counts.budget
            raise BudgetExhausted(
                f"time budget of {budget.seconds:g}s spent before {verb} {resource}",
                reason="TimeBudget",
            )

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
        self,
        verb: str,
        resource: str,
        call: Callable[[], Any],
        *,
        write: bool = False,
        max_attempts: int | None = None,
    ) -> Any:
        limit = max_attempts or self._retry.max_attempts
        attempt = 0
        while True:
            attempt += 1
            self._check_budget(verb, resource)
            try:
                return self._send(verb, resource, call)
            except GatewayError as error:
                # A write that reached a failing server may have been applied: only retry
                # writes the server did not process (429). A 409 is a failed precondition.
                may_retry = error.retryable and (not write or isinstance(error, TooManyRequests))
                if not may_retry or attempt >= limit:
                    raise
                delay = self._retry.delay(attempt, error)
                requests, seconds = self.budget_left()
                if requests is not None and requests <= 0:
                    raise  # the retry would go over the caller's request budget
                if seconds is not None and delay >= seconds:
                    raise  # the back-off alone would outlast the caller's time budget
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


class _MicroTime(datetime):
    """A datetime the client serialises as MicroTime: `2026-12-07T10:00:00.000000Z`."""

    def isoformat(self, sep: str = "T", timespec: str = "auto") -> str:
        return self.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _object_list(data: JSON) -> ObjectList:
    meta = data.get("metadata") or {}
    return ObjectList(
        items=list(data.get("items") or []),
        resource_version=str(meta.get("resourceVersion") or ""),
        continue_token=str(meta.get("continue") or ""),
    )


def _watch_lines(response: Any) -> Iterator[WatchEvent]:
    buffer = b""
    for chunk in response.stream(amt=65536, decode_content=True):
        if b"\n" not in chunk:
            buffer += chunk
            continue
        lines = (buffer + chunk).split(b"\n")
        buffer = lines.pop()  # the part of a line still to come
        for line in lines:
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
