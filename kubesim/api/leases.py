"""coordination.k8s.io/v1 Leases: MicroTime fields, validation and the `kubectl get` row.

`spec.acquireTime` and `spec.renewTime` are MicroTime: the server parses them with Go's
`2006-01-02T15:04:05.000000Z07:00` (exactly six fractional digits, any offset) and writes them
back in UTC with six digits, e.g. `2026-12-07T17:46:31.000000Z`. Anything else fails decoding
(400). `leaseDurationSeconds` must be above 0 and `leaseTransitions` not below 0 (422).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from kubesim.api.errors import ApiError, bad_request

Obj = dict[str, Any]
Cause = tuple[str, str, str]

MICRO_LAYOUT = "2006-01-02T15:04:05.000000Z07:00"
MICRO_FIELDS = ("acquireTime", "renewTime")
_MICRO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{6})(Z|[+-]\d{2}:\d{2})$"
)

COLUMNS_HOLDER_DOC = "holderIdentity contains the identity of the holder of a current lease."


def parse_micro_time(value: str) -> datetime:
    """A MicroTime as the API server decodes it; ValueError if it would not."""
    match = _MICRO.match(value)
    if match is None:
        raise ValueError(value)
    year, month, day, hour, minute, second, micro, zone = match.groups()
    if zone == "Z":
        tz: timezone = UTC
    else:
        sign = 1 if zone[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    return datetime(
        int(year), int(month), int(day), int(hour), int(minute), int(second), int(micro), tz
    )


def format_micro_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _decode_error(value: Any) -> ApiError:
    return bad_request(
        'Lease in version "v1" cannot be handled as a Lease: '
        f'parsing time "{value}" as "{MICRO_LAYOUT}": cannot parse "{value}" as "{MICRO_LAYOUT}"'
    )


def causes(obj: Obj) -> list[Cause]:
    """ValidateLeaseSpec (1.28); a MicroTime that does not decode is a 400 first."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return []
    for name in MICRO_FIELDS:
        value = spec.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise _decode_error(value)
        try:
            parse_micro_time(value)
        except ValueError:
            raise _decode_error(value) from None
    found: list[Cause] = []
    duration = spec.get("leaseDurationSeconds")
    if isinstance(duration, int) and not isinstance(duration, bool) and duration <= 0:
        found.append(
            (
                "FieldValueInvalid",
                "spec.leaseDurationSeconds",
                f"Invalid value: {duration}: must be greater than 0",
            )
        )
    transitions = spec.get("leaseTransitions")
    if isinstance(transitions, int) and not isinstance(transitions, bool) and transitions < 0:
        found.append(
            (
                "FieldValueInvalid",
                "spec.leaseTransitions",
                f"Invalid value: {transitions}: must be greater than or equal to 0",
            )
        )
    return found


def normalise(obj: Obj) -> None:
    """Write the MicroTime fields back as the server stores them: UTC, six digits."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    for name in MICRO_FIELDS:
        value = spec.get(name)
        if isinstance(value, str):
            spec[name] = format_micro_time(parse_micro_time(value))
