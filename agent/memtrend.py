"""Is a container's memory still climbing towards its (freshly raised) limit?

After `increase_memory_limit` a leaking container looks healthy for a while: the raise only
delays the next OOM kill. The verify node samples the rolled-out pod's memory with
`check_resource_usage` at each look; this module turns those samples into a verdict. Pure
functions on plain data, timed by the agent's own (simulated or real) waits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from policies import parse_memory_quantity

_MI = 2**20
# A rise smaller than this (over the whole window) is noise, not a trend: a steady working set
# jitters by a few MiB between metrics-server scrapes.
MIN_RISE_BYTES = _MI
MIN_RISE_FRACTION_OF_LIMIT = 0.01


@dataclass(frozen=True, slots=True)
class MemorySample:
    at_seconds: float  # since the verification started, on the agent's clock
    usage_bytes: int
    limit_bytes: int | None


@dataclass(frozen=True, slots=True)
class MemoryTrend:
    leak: bool
    samples: int  # the samples the trend was fitted on (since the last restart)
    rate_bytes_per_minute: float
    usage_bytes: int
    limit_bytes: int | None
    minutes_to_limit: float | None  # None: no limit, or not growing

    def describe(self) -> str:
        rate = self.rate_bytes_per_minute / _MI
        now = f"{self.usage_bytes / _MI:.0f}Mi"
        if self.limit_bytes:
            now += f" of {self.limit_bytes / _MI:.0f}Mi"
        if self.minutes_to_limit is None:
            return f"memory {now}, ~{rate:.1f}Mi/min over {self.samples} samples"
        return (
            f"memory still growing ~{rate:.0f}Mi/min ({now}); the new limit would be reached "
            f"in ~{self.minutes_to_limit:.0f} min"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "leak": self.leak,
            "samples": self.samples,
            "rate_mib_per_minute": round(self.rate_bytes_per_minute / _MI, 2),
            "usage_bytes": self.usage_bytes,
            "limit_bytes": self.limit_bytes,
            "minutes_to_limit": (
                None if self.minutes_to_limit is None else round(self.minutes_to_limit, 1)
            ),
        }


def sample_of(
    result: Mapping[str, Any], container: str | None, at_seconds: float
) -> MemorySample | None:
    """One sample from a `check_resource_usage` result (None: no usable figure)."""
    if not result.get("metrics_available"):
        return None
    containers = [c for c in result.get("containers") or [] if isinstance(c, Mapping)]
    if container is not None:
        containers = [c for c in containers if c.get("name") == container] or containers
    best: MemorySample | None = None
    for item in containers:
        memory = item.get("memory")
        if not isinstance(memory, Mapping):
            continue
        try:
            usage = parse_memory_quantity(memory.get("usage"))
        except ValueError:
            continue
        try:
            limit: int | None = parse_memory_quantity(memory.get("limit"))
        except ValueError:
            limit = None
        sample = MemorySample(at_seconds, usage, limit)
        if container is not None and item.get("name") == container:
            return sample
        # No named container: the one closest to its limit is the one that matters.
        if best is None or _fill(sample) > _fill(best):
            best = sample
    return best


def _fill(sample: MemorySample) -> float:
    return sample.usage_bytes / sample.limit_bytes if sample.limit_bytes else 0.0


def trend(
    samples: Sequence[MemorySample], *, horizon_minutes: float, min_samples: int
) -> MemoryTrend | None:
    """The trend since the last restart (a drop in usage), or None with too few samples.

    A leak: usage rose by more than noise, and at the fitted rate it reaches the limit
    within `horizon_minutes`.
    """
    run = list(samples)
    for index in range(len(run) - 1, 0, -1):
        if run[index].usage_bytes < run[index - 1].usage_bytes - MIN_RISE_BYTES:
            run = run[index:]  # the container restarted: its memory started over
            break
    if len(run) < max(2, min_samples):
        return None
    rate = _slope(run) * 60.0
    last = run[-1]
    limit = last.limit_bytes
    rise = last.usage_bytes - run[0].usage_bytes
    floor = max(MIN_RISE_BYTES, MIN_RISE_FRACTION_OF_LIMIT * limit if limit else 0.0)
    growing = rate > 0 and rise >= floor
    minutes: float | None = None
    if growing and limit:
        minutes = max(0.0, (limit - last.usage_bytes) / rate)
    return MemoryTrend(
        leak=minutes is not None and minutes <= horizon_minutes,
        samples=len(run),
        rate_bytes_per_minute=rate,
        usage_bytes=last.usage_bytes,
        limit_bytes=limit,
        minutes_to_limit=minutes,
    )


def _slope(run: Sequence[MemorySample]) -> float:
    """Least-squares bytes per second."""
    n = len(run)
    mean_t = sum(s.at_seconds for s in run) / n
    mean_u = sum(s.usage_bytes for s in run) / n
    var = sum((s.at_seconds - mean_t) ** 2 for s in run)
    if var == 0:
        return 0.0
    cov = sum((s.at_seconds - mean_t) * (s.usage_bytes - mean_u) for s in run)
    return cov / var
