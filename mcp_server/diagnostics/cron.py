"""Cron schedules as the CronJob controller reads them (robfig/cron's standard five fields),
enough to tell when a schedule was last due: `*`, `?`, ranges, steps, lists, month and weekday
names and the `@hourly` ... `@yearly` descriptors. Pure; an unparsable schedule is None."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_BOUNDS: tuple[tuple[int, int, dict[str, int]], ...] = (
    (0, 59, {}),
    (0, 23, {}),
    (1, 31, {}),
    (1, 12, {n: i + 1 for i, n in enumerate(_MONTHS)}),
    (0, 6, {n: i for i, n in enumerate(_DAYS)}),
)
# How far back a due time is looked for (a schedule due less often is not judged).
LOOKBACK = timedelta(days=8)


@dataclass(frozen=True)
class Cron:
    fields: tuple[frozenset[int], ...]
    days_star: bool
    weekdays_star: bool

    def matches(self, at: datetime) -> bool:
        minutes, hours, days, months, weekdays = self.fields
        if at.minute not in minutes or at.hour not in hours or at.month not in months:
            return False
        dom = at.day in days
        dow = (at.isoweekday() % 7) in weekdays
        return (dom and dow) if (self.days_star or self.weekdays_star) else (dom or dow)

    def due_times(self, after: datetime, until: datetime, limit: int = 1000) -> list[datetime]:
        """Due times in (after, until], oldest first, at most `limit` (minute resolution)."""
        start = max(after, until - LOOKBACK)
        at = start.replace(second=0, microsecond=0) + timedelta(minutes=1)
        out: list[datetime] = []
        while at <= until and len(out) < limit:
            if self.matches(at):
                out.append(at)
            at += timedelta(minutes=1)
        return out


def _number(text: str, names: dict[str, int]) -> int:
    low = text.lower()
    return names[low] if low in names else int(text)


def _field(expr: str, index: int) -> tuple[frozenset[int], bool]:
    low, high, names = _BOUNDS[index]
    values: set[int] = set()
    star = expr in ("*", "?")
    for part in expr.split(","):
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step <= 0:
            raise ValueError(part)
        if body in ("*", "?"):
            first, last = low, high
        elif "-" in body:
            a, b = body.split("-", 1)
            first, last = _number(a, names), _number(b, names)
        else:
            first = _number(body, names)
            last = high if step_text else first
        if index == 4 and last == 7:
            last = 6 if first <= 6 else 0
            values.add(0)
        if not (low <= first <= high and low <= last <= high and first <= last):
            raise ValueError(part)
        values.update(range(first, last + 1, step))
    return frozenset(values), star


def parse(schedule: str) -> Cron | None:
    text = schedule.strip()
    text = _DESCRIPTORS.get(text.lower(), text)
    parts = text.split()
    if len(parts) != 5:
        return None
    try:
        fields = [_field(p, n) for n, p in enumerate(parts)]
    except (ValueError, KeyError):
        return None
    return Cron(tuple(f[0] for f in fields), fields[2][1], fields[4][1])


def localize(at: datetime, time_zone: str | None) -> datetime:
    """`at` in the CronJob's `timeZone` (UTC when unset or unknown)."""
    if not time_zone:
        return at
    try:
        return at.astimezone(ZoneInfo(time_zone))
    except (ZoneInfoNotFoundError, ValueError):
        return at
