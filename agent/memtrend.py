"""Is a container's memory still climbing towards its (freshly raised) limit?

After `increase_memory_limit` a leaking container looks healthy for a while: the raise only
delays the next OOM kill. The verify node samples the rolled-out pod's memory with
`check_resource_usage` at each look; this module turns those results into samples. The trend
math is `policies.memory_trend`, the same the MCP server predicts OOM kills with.
"""

from __future__ import annotations

from kubemedic_contract import ResourceUsageResult
from kubemedic_quantity import parse_memory
from policies.memory_trend import MemorySample, MemoryTrend, trend

__all__ = ["MemorySample", "MemoryTrend", "sample_of", "trend"]


def sample_of(
    result: ResourceUsageResult, container: str | None, at_seconds: float
) -> MemorySample | None:
    """One sample from a `check_resource_usage` result (None: no usable figure)."""
    if not result.metrics_available:
        return None
    containers = result.containers
    if container is not None:
        containers = [c for c in containers if c.name == container] or containers
    best: MemorySample | None = None
    for item in containers:
        try:
            usage = parse_memory(item.memory.usage)
        except ValueError:
            continue
        try:
            limit: int | None = parse_memory(item.memory.limit)
        except ValueError:
            limit = None
        sample = MemorySample(at_seconds, usage, limit)
        if container is not None and item.name == container:
            return sample
        # No named container: the one closest to its limit is the one that matters.
        if best is None or _fill(sample) > _fill(best):
            best = sample
    return best


def _fill(sample: MemorySample) -> float:
    return sample.usage_bytes / sample.limit_bytes if sample.limit_bytes else 0.0
