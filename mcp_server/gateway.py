"""The Kubernetes gateway: the only module of kubemedic that calls the `kubernetes` client.

Everything comes back as plain JSON dicts, exactly as the API server sent it (the diagnostics
are pure functions over those), and every failure as a typed `GatewayError`, split into
retryable and permanent, so callers can branch on the class rather than on status codes.
Requests are counted (Prometheus, and `requests_sent` for budgets in tests), and retried a
bounded number of times with exponential back-off and full jitter, honouring `Retry-After`.
A caller can bound a whole sequence of reads (`with gateway.budget(requests=5, seconds=20)`):
retries count, each request's timeout shrinks to the time left, and once the budget is spent
the next request is not sent (`BudgetExhausted`).

The gateway is split along its seams: `gateway_errors` (typed errors), `gateway_client` (the
client, budgets, the counted and retried send, the shapes of what comes back),
`gateway_reads`, `gateway_writes` and `gateway_leases`. Callers import from here.
"""

from __future__ import annotations

from mcp_server.gateway_client import (
    DIAGNOSIS_BUDGET_SECONDS,
    EVENT_PAGE_SIZE,
    JSON,
    LOG_LIMIT_BYTES,
    MAX_DIAGNOSIS_REQUESTS,
    ApiWatchEvent,
    DiagnosisInputs,
    LogText,
    ObjectList,
    PodMetrics,
    PodWatch,
    RequestBudget,
    RetryPolicy,
    _resource_of,
    load_api_client,
)
from mcp_server.gateway_errors import (
    BudgetExhausted,
    ConfigurationError,
    Conflict,
    EventsCut,
    Forbidden,
    GatewayError,
    Gone,
    Invalid,
    MetricsNotServed,
    NotFound,
    NotServed,
    ServerError,
    TooManyRequests,
    Unavailable,
    classify,
)
from mcp_server.gateway_leases import GatewayLeases
from mcp_server.gateway_reads import GatewayReads
from mcp_server.gateway_workload_reads import GatewayWorkloadReads
from mcp_server.gateway_writes import GatewayWrites


class Gateway(GatewayReads, GatewayWorkloadReads, GatewayWrites, GatewayLeases):
    """Typed, counted, retried access to the few Kubernetes resources kubemedic touches."""


__all__ = [
    "DIAGNOSIS_BUDGET_SECONDS",
    "EVENT_PAGE_SIZE",
    "JSON",
    "LOG_LIMIT_BYTES",
    "MAX_DIAGNOSIS_REQUESTS",
    "BudgetExhausted",
    "ConfigurationError",
    "Conflict",
    "DiagnosisInputs",
    "EventsCut",
    "Forbidden",
    "Gateway",
    "GatewayError",
    "Gone",
    "Invalid",
    "LogText",
    "MetricsNotServed",
    "NotFound",
    "NotServed",
    "ObjectList",
    "PodMetrics",
    "PodWatch",
    "RequestBudget",
    "RetryPolicy",
    "ServerError",
    "TooManyRequests",
    "Unavailable",
    "ApiWatchEvent",
    "_resource_of",
    "classify",
    "load_api_client",
]
