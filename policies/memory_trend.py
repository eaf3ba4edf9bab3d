"""Memory trends from usage samples: is a container's working set heading for its limit?

Pure functions on plain samples (time, working-set bytes, limit, restart count), shared by the
MCP server (predicted OOM kills, leak candidates, observed peaks) and the agent (the leak check
after a memory-limit raise). Nothing here reads a clock or the cluster.

The shape of a run (the samples of one container instance, since its last restart):

- `flat`: usage did not rise by more than noise over the run;
- `linear`: it rises at a steady (or rising) rate: a leak looks like this;
- `decelerating`: it rises, but the recent rate is clearly below the earlier one (a cache
  warming up, a heap settling): it levels off, and where is estimated from the slowing rate.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from kubemedic_quantity import MI

# A rise smaller than this (over the whole run) is noise, not a trend: a steady working set
# jitters by a few MiB between metrics-server scrapes.
MIN_RISE_BYTES = MI
MIN_RISE_FRACTION_OF_LIMIT = 0.01
# The recent rate at most this share of the earlier one: the growth is slowing down.
DECELERATING_RATIO = 0.8

# What a predicted OOM kill needs: enough samples over enough time, a clear rise (more than a
# noisy steady pod ever shows) and a fit that explains the samples.
PREDICT_MIN_SAMPLES = 8
PREDICT_MIN_SPAN_SECONDS = 300.0
PREDICT_MIN_RISE_BYTES = 4 * MI
PREDICT_MIN_RISE_FRACTION_OF_LIMIT = 0.03
PREDICT_MIN_R_SQUARED = 0.6

FLAT = "flat"
LINEAR = "linear"
DECELERATING = "decelerating"


@dataclass(frozen=True, slots=True)
class MemorySample:
    at_seconds: float  # any monotonic origin (epoch seconds, seconds since a start)
    usage_bytes: int  # working set
    limit_bytes: int | None = None
    restart_count: int | None = None  # the container instance; None: unknown


@dataclass(frozen=True, slots=True)
class MemoryTrend:
    leak: bool  # growing and, at this pace, reaching the limit within the horizon
    samples: int  # the samples the trend was fitted on (since the last restart)
    rate_bytes_per_minute: float  # the recent rate (least squares)
    usage_bytes: int
    limit_bytes: int | None
    minutes_to_limit: float | None  # None: no limit, or not reaching it at this pace
    span_seconds: float = 0.0
    shape: str = FLAT
    peak_bytes: int = 0
    # Where usage is heading within the horizon at this pace (levelling off when decelerating).
    projected_bytes: int | None = None
    r_squared: float = 0.0

    def describe(self) -> str:
        rate = self.rate_bytes_per_minute / MI
        now = f"{self.usage_bytes / MI:.0f}Mi"
        if self.limit_bytes:
            now += f" of {self.limit_bytes / MI:.0f}Mi"
        if self.minutes_to_limit is None:
            return f"memory {now}, ~{rate:.1f}Mi/min over {self.samples} samples"
        return (
            f"memory still growing ~{rate:.0f}Mi/min ({now}); the limit would be reached "
            f"in ~{self.minutes_to_limit:.0f} min"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "leak": self.leak,
            "samples": self.samples,
            "span_minutes": round(self.span_seconds / 60.0, 1),
            "shape": self.shape,
            "rate_mib_per_minute": round(self.rate_bytes_per_minute / MI, 2),
            "usage_bytes": self.usage_bytes,
            "peak_bytes": self.peak_bytes,
            "limit_bytes": self.limit_bytes,
            "minutes_to_limit": (
                None if self.minutes_to_limit is None else round(self.minutes_to_limit, 1)
            ),
            "projected_bytes": self.projected_bytes,
        }


# -- runs ---------------------------------------------------------------------------------


def runs(samples: Iterable[MemorySample]) -> list[list[MemorySample]]:
    """The samples split per container instance: a new restart count, or (when the count is
    unknown) a drop in usage larger than noise, starts a new run."""
    out: list[list[MemorySample]] = []
    for sample in samples:
        if out:
            last = out[-1][-1]
            restarted = (
                sample.restart_count != last.restart_count
                if sample.restart_count is not None and last.restart_count is not None
                else sample.usage_bytes < last.usage_bytes - MIN_RISE_BYTES
            )
            if not restarted:
                out[-1].append(sample)
                continue
        out.append([sample])
    return out


def current_run(samples: Sequence[MemorySample]) -> list[MemorySample]:
    """The samples of the latest container instance."""
    split = runs(samples)
    return split[-1] if split else []


# -- fitting ------------------------------------------------------------------------------


def _fit(run: Sequence[MemorySample]) -> tuple[float, float]:
    """Least squares: (bytes per second, r squared)."""
    n = len(run)
    if n < 2:
        return 0.0, 0.0
    mean_t = sum(s.at_seconds for s in run) / n
    mean_u = sum(s.usage_bytes for s in run) / n
    var_t = sum((s.at_seconds - mean_t) ** 2 for s in run)
    var_u = sum((s.usage_bytes - mean_u) ** 2 for s in run)
    if var_t == 0:
        return 0.0, 0.0
    cov = sum((s.at_seconds - mean_t) * (s.usage_bytes - mean_u) for s in run)
    slope = cov / var_t
    r2 = 1.0 if var_u == 0 else (cov * cov) / (var_t * var_u)
    return slope, r2


def _halves(run: Sequence[MemorySample]) -> tuple[list[MemorySample], list[MemorySample]] | None:
    """The run split at its middle moment, each half with at least three samples."""
    middle = (run[0].at_seconds + run[-1].at_seconds) / 2.0
    early = [s for s in run if s.at_seconds <= middle]
    late = [s for s in run if s.at_seconds >= middle]
    if len(early) < 3 or len(late) < 3:
        return None
    return early, late


def _midpoint(run: Sequence[MemorySample]) -> float:
    return (run[0].at_seconds + run[-1].at_seconds) / 2.0


def _deceleration(run: Sequence[MemorySample]) -> tuple[float, float] | None:
    """(late rate, time constant) when the second half of the run grows clearly slower than
    the first; None for a steady (or too short) climb."""
    halves = _halves(run)
    if halves is None:
        return None
    early_rate, _ = _fit(halves[0])
    late_rate, _ = _fit(halves[1])
    if not (early_rate > 0 and 0 < late_rate <= DECELERATING_RATIO * early_rate):
        return None
    gap = _midpoint(halves[1]) - _midpoint(halves[0])
    return late_rate, gap / math.log(early_rate / late_rate)


def _project(
    run: Sequence[MemorySample], slope: float, usage: int, limit: int | None, horizon_minutes: float
) -> tuple[str, float, float, float | None]:
    """A growing run's shape, rate (bytes/s), usage at the horizon, and minutes to the limit."""
    horizon = horizon_minutes * 60.0
    minutes: float | None = None
    slowing = _deceleration(run)
    if slowing is None:
        projected = usage + slope * horizon
        if limit:
            minutes = max(0.0, (limit - usage) / slope) / 60.0
        return LINEAR, slope, projected, minutes
    rate, tau = slowing
    # rate(t) = rate * exp(-t / tau): usage levels off `rate * tau` above now.
    room = rate * tau
    projected = usage + room * (1.0 - math.exp(-horizon / tau))
    if limit and limit - usage < room:
        minutes = -tau * math.log(1.0 - max(0, limit - usage) / room) / 60.0
    return DECELERATING, rate, projected, minutes


def trend(
    samples: Sequence[MemorySample], *, horizon_minutes: float, min_samples: int
) -> MemoryTrend | None:
    """The trend of the latest run (since the last restart), or None with too few samples.

    A leak: usage rose by more than noise, and at the fitted pace it reaches the limit within
    `horizon_minutes`. A decelerating run is projected to where it levels off (exponential
    approach, its time constant from how much the rate slowed), so one that settles below its
    limit never reaches it.
    """
    run = current_run(samples)
    if len(run) < max(2, min_samples):
        return None
    slope, r2 = _fit(run)
    last = run[-1]
    limit = last.limit_bytes
    usage = last.usage_bytes
    rise = usage - run[0].usage_bytes
    floor = max(MIN_RISE_BYTES, MIN_RISE_FRACTION_OF_LIMIT * limit if limit else 0.0)
    growing = slope > 0 and rise >= floor
    span = last.at_seconds - run[0].at_seconds
    peak = max(s.usage_bytes for s in run)
    shape, rate = FLAT, slope  # rate: bytes per second
    projected: float | None = None
    minutes: float | None = None
    if growing:
        shape, rate, projected, minutes = _project(run, slope, usage, limit, horizon_minutes)
    return MemoryTrend(
        leak=minutes is not None and minutes <= horizon_minutes,
        samples=len(run),
        rate_bytes_per_minute=rate * 60.0,
        usage_bytes=usage,
        limit_bytes=limit,
        minutes_to_limit=minutes,
        span_seconds=span,
        shape=shape,
        peak_bytes=peak,
        projected_bytes=None if projected is None else int(math.ceil(projected)),
        r_squared=r2,
    )


def predict_oom(
    samples: Sequence[MemorySample],
    *,
    horizon_minutes: float,
    min_samples: int = PREDICT_MIN_SAMPLES,
    min_span_seconds: float = PREDICT_MIN_SPAN_SECONDS,
) -> MemoryTrend | None:
    """The trend when the latest run reaches its limit within the horizon, else None.

    Stricter than `trend`: at least `min_samples` over `min_span_seconds`, a rise of at least
    4Mi and 3% of the limit, and a fit that explains the samples, so that a flat or noisy
    container never qualifies.
    """
    found = trend(samples, horizon_minutes=horizon_minutes, min_samples=min_samples)
    if found is None or not found.leak or not found.limit_bytes:
        return None
    if found.span_seconds < min_span_seconds or found.r_squared < PREDICT_MIN_R_SQUARED:
        return None
    run = current_run(samples)
    rise = run[-1].usage_bytes - run[0].usage_bytes
    floor = max(PREDICT_MIN_RISE_BYTES, PREDICT_MIN_RISE_FRACTION_OF_LIMIT * found.limit_bytes)
    if rise < floor:
        return None
    return found


def last_full_trend(
    samples: Sequence[MemorySample], *, horizon_minutes: float, min_samples: int
) -> MemoryTrend | None:
    """The trend of the latest run with enough samples (after an OOM kill the current run has
    barely started; the run that ended in the kill shows how memory grew)."""
    for run in reversed(runs(samples)):
        found = trend(run, horizon_minutes=horizon_minutes, min_samples=min_samples)
        if found is not None:
            return found
    return None


# -- summaries ----------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) by linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    position = (len(ordered) - 1) * min(max(q, 0.0), 100.0) / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))


@dataclass(frozen=True, slots=True)
class UsageSummary:
    count: int
    p50: float | None
    p95: float | None
    max: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "p50": self.p50, "p95": self.p95, "max": self.max}


def summarize(values: Sequence[float]) -> UsageSummary:
    """p50, p95 and max of a series (bytes, millicores)."""
    return UsageSummary(
        len(values),
        percentile(values, 50.0),
        percentile(values, 95.0),
        float(max(values)) if values else None,
    )
