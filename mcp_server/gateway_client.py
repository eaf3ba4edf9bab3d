"""The gateway's core: the kubernetes client, the request budget, the counted and retried send
every request goes through, and the plain-JSON shapes reads come back in."""

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
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self, TypeVar

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from mcp_server import metrics
from mcp_server.gateway_errors import (
    BudgetExhausted,
    ConfigurationError,
    GatewayError,
    Gone,
    ServerError,
    TooManyRequests,
    Unavailable,
    classify,
)

if TYPE_CHECKING:
    from mcp_server.config import ServerConfig

log = logging.getLogger(__name__)

JSON = dict[str, Any]
T = TypeVar("T")


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
class ApiWatchEvent:
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

    def __iter__(self) -> Iterator[ApiWatchEvent]:
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


class GatewayCore:
    """The client, the request budget and the counted, retried send every request goes
    through; the reads, writes and Lease calls build on it (`mcp_server.gateway.Gateway`)."""

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
    ) -> Self:
        return cls(load_api_client(kubeconfig, context), **kwargs)

    @classmethod
    def from_config(cls, config: ServerConfig, **kwargs: Any) -> Self:
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


def _object_list(data: JSON) -> ObjectList:
    meta = data.get("metadata") or {}
    return ObjectList(
        items=list(data.get("items") or []),
        resource_version=str(meta.get("resourceVersion") or ""),
        continue_token=str(meta.get("continue") or ""),
    )


def _watch_lines(response: Any) -> Iterator[ApiWatchEvent]:
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


def _watch_event(line: bytes) -> ApiWatchEvent | None:
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
    return ApiWatchEvent(kind, obj)
