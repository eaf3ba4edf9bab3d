"""Cron schedules as the CronJob controller reads them (robfig/cron v3, `ParseStandard`).

Five fields (minute hour day-of-month month day-of-week) with `*`, `?`, ranges `a-b`, steps
`*/n`, `a-b/n` and `a/n` (from a to the field's maximum), lists, month and weekday names, and
the descriptors `@yearly` / `@annually`, `@monthly`, `@weekly`, `@daily` / `@midnight`,
`@hourly`. When both day fields are restricted a day matching either runs (as in Vixie cron);
when one of them is `*` the other alone decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

_MONTHS = {
    name: i + 1
    for i, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    )
}
_DAYS = {name: i for i, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# (minimum, maximum, names) per field
_BOUNDS: tuple[tuple[int, int, dict[str, int]], ...] = (
    (0, 59, {}),
    (0, 23, {}),
    (1, 31, {}),
    (1, 12, _MONTHS),
    (0, 6, _DAYS),
)


class CronError(ValueError):
    """A schedule robfig/cron would refuse (the message is the parser's)."""


@dataclass(frozen=True)
class Schedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    days_star: bool
    weekdays_star: bool

    def _day_matches(self, moment: datetime) -> bool:
        dom = moment.day in self.days
        dow = (moment.isoweekday() % 7) in self.weekdays
        if self.days_star or self.weekdays_star:
            return dom and dow
        return dom or dow

    def next_after(self, moment: datetime) -> datetime | None:
        """The first activation strictly after `moment` (an aware datetime), in its zone;
        None when none comes within five years (as robfig gives up)."""
        zone: tzinfo | None = moment.tzinfo
        t = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = moment.year + 5
        while t.year <= limit:
            if t.month not in self.months:
                year, month = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
                t = datetime(year, month, 1, tzinfo=zone)
                continue
            if not self._day_matches(t):
                t = datetime(t.year, t.month, t.day, tzinfo=zone) + timedelta(days=1)
                continue
            if t.hour not in self.hours:
                t = datetime(t.year, t.month, t.day, t.hour, tzinfo=zone) + timedelta(hours=1)
                continue
            if t.minute not in self.minutes:
                t += timedelta(minutes=1)
                continue
            return t
        return None


def _number(text: str, names: dict[str, int]) -> int:
    lowered = text.lower()
    if lowered in names:
        return names[lowered]
    if not text.isdigit():
        raise CronError(
            f'failed to parse int from {text}: strconv.Atoi: parsing "{text}": invalid syntax'
        )
    return int(text)


def _field(expr: str, index: int) -> tuple[frozenset[int], bool]:
    low, high, names = _BOUNDS[index]
    values: set[int] = set()
    star = False
    for part in expr.split(","):
        range_part, _, step_text = part.partition("/")
        single = False
        extra_star = False
        if range_part in ("*", "?"):
            start, end = low, high
            extra_star = True
        else:
            first, dash, last = range_part.partition("-")
            start = _number(first, names)
            if dash:
                end = _number(last, names)
            else:
                end = start
                single = True
        step = 1
        if step_text:
            step = _number(step_text, {})
            if single:
                end = high
            if step > 1:
                extra_star = False
        if start < low:
            raise CronError(f"beginning of range ({start}) below minimum ({low}): {part}")
        if end > high:
            raise CronError(f"end of range ({end}) above maximum ({high}): {part}")
        if start > end:
            raise CronError(f"beginning of range ({start}) beyond end of range ({end}): {part}")
        if step == 0:
            raise CronError(f"step of range should be a positive number: {part}")
        values.update(range(start, end + 1, step))
        star = star or extra_star
    return frozenset(values), star


def parse(text: str) -> Schedule:
    """A Schedule, or CronError with the parser's message."""
    spec = text.strip()
    if spec.startswith(("TZ=", "CRON_TZ=")):
        spec = spec.partition(" ")[2]
    if spec.startswith("@"):
        if spec not in _DESCRIPTORS:
            raise CronError(f"unrecognized descriptor: {spec}")
        spec = _DESCRIPTORS[spec]
    fields = spec.split()
    if len(fields) != 5:
        raise CronError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    parsed = [_field(f, i) for i, f in enumerate(fields)]
    return Schedule(
        minutes=parsed[0][0],
        hours=parsed[1][0],
        days=parsed[2][0],
        months=parsed[3][0],
        weekdays=parsed[4][0],
        days_star=parsed[2][1],
        weekdays_star=parsed[4][1],
    )
