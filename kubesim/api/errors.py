"""Kubernetes `Status` errors: the shapes and codes a real kube-apiserver answers with."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ApiError(Exception):
    """An error the API answers as a `Status` object (or plain text, for unrouted paths)."""

    code: int
    reason: str
    message: str
    details: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    plain_text: bool = False  # "404 page not found": no Status body, as the real mux answers

    def __str__(self) -> str:
        return self.message

    def body(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
        }
        if self.reason:
            status["reason"] = self.reason
        if self.details is not None:
            status["details"] = self.details
        status["code"] = self.code
        return status


def _qualified(plural: str, group: str) -> str:
    return f"{plural}.{group}" if group else plural


def not_found(plural: str, group: str, name: str) -> ApiError:
    kind = _qualified(plural, group)
    return ApiError(
        404,
        "NotFound",
        f'{kind} "{name}" not found',
        {"name": name, "group": group, "kind": plural} if group else {"name": name, "kind": plural},
    )


def already_exists(plural: str, group: str, name: str) -> ApiError:
    kind = _qualified(plural, group)
    details = (
        {"name": name, "group": group, "kind": plural} if group else {"name": name, "kind": plural}
    )
    return ApiError(409, "AlreadyExists", f'{kind} "{name}" already exists', details)


def conflict(plural: str, group: str, name: str) -> ApiError:
    kind = _qualified(plural, group)
    details = (
        {"name": name, "group": group, "kind": plural} if group else {"name": name, "kind": plural}
    )
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {kind} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        details,
    )


def invalid(kind: str, group: str, name: str, causes: list[tuple[str, str, str]]) -> ApiError:
    """422 Invalid; causes are (reason, field, message) as the validator reports them."""
    summary = ", ".join(f"{fld}: {msg}" for _, fld, msg in causes)
    if len(causes) > 1:
        summary = "[" + summary + "]"
    details: dict[str, Any] = {"name": name} if name else {}  # Go drops an empty name
    if group:
        details["group"] = group
    details["kind"] = kind
    details["causes"] = [{"reason": r, "message": m, "field": f} for r, f, m in causes]
    return ApiError(
        422,
        "Invalid",
        f'{kind}{"." + group if group else ""} "{name}" is invalid: {summary}',
        details,
    )


def precondition_failed(kind: str, name: str, what: str, sent: str, stored: str) -> ApiError:
    """409 for a delete whose preconditions (uid / resourceVersion) do not hold: the message
    names the Kind (not the resource), as the registry's precondition check words it."""
    cause = (
        "The object might have been deleted and then recreated"
        if what == "UID"
        else "The object might have been modified"
    )
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {kind} "{name}": the {what} in the precondition '
        f"({sent}) does not match the {what} in record ({stored}). {cause}",
        {"name": name, "kind": kind},
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def too_large_resource_version(requested: int, current: int) -> ApiError:
    """504 for a list at an exact resourceVersion the store has not reached yet."""
    return ApiError(
        504,
        "Timeout",
        f"Timeout: Too large resource version: {requested}, current: {current}",
        {
            "causes": [
                {"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}
            ],
            "retryAfterSeconds": 1,
        },
    )


def kubelet_unreachable(url: str, host: str) -> ApiError:
    """500 for a request the server proxies to a kubelet that does not answer: the dial error
    as the message, no reason, no details (as recorded)."""
    return ApiError(500, "", f'Get "{url}": dial tcp {host}: connect: connection refused')


def method_not_allowed(
    message: str = "the server does not allow this method on the requested resource",
) -> ApiError:
    return ApiError(405, "MethodNotAllowed", message, {})


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def page_not_found() -> ApiError:
    return ApiError(404, "NotFound", "404 page not found", plain_text=True)


def too_many_requests(
    message: str, retry_after: int, details: dict[str, Any] | None = None
) -> ApiError:
    d = dict(details or {})
    d.setdefault("retryAfterSeconds", retry_after)
    return ApiError(429, "TooManyRequests", message, d, headers={"Retry-After": str(retry_after)})


def internal(message: str) -> ApiError:
    return ApiError(500, "InternalError", message, {"causes": [{"message": message}]})


def query_number(raw: str | None, name: str, default: float = 0) -> float:
    """A numeric query parameter; anything unparsable is a 400, never a 500."""
    if raw in (None, ""):
        return default
    try:
        value = float(str(raw))
    except ValueError as exc:
        raise bad_request(f'invalid value "{raw}" for {name}: must be a number') from exc
    if value < 0:
        raise bad_request(f'invalid value "{raw}" for {name}: must not be negative')
    return value
