"""The gateway's typed errors: what an API server answer means, retryable or permanent."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, TypeVar

from kubernetes.client.exceptions import ApiException

if TYPE_CHECKING:
    pass

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
