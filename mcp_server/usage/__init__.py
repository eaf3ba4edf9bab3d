"""Container usage over time: the sampler behind memory trends and predicted OOM kills."""

from mcp_server.usage.sampler import (
    ContainerKey,
    ContainerSummary,
    Prediction,
    UsageSample,
    UsageSampler,
)

__all__ = ["ContainerKey", "ContainerSummary", "Prediction", "UsageSample", "UsageSampler"]
