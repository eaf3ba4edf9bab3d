"""get_rightsizing's work: the usage sampler's window through the pure recommendations."""

from __future__ import annotations

from mcp_server.auth import Caller
from mcp_server.errors import ErrorCode
from mcp_server.state import ServerState
from mcp_server.tools.models import RightsizingInput, RightsizingResult, ToolFailure
from mcp_server.usage.rightsizing import build_report

CACHE_SYNC_WAIT_SECONDS = 10.0


def get_rightsizing(
    state: ServerState, args: RightsizingInput, caller: Caller
) -> RightsizingResult:
    cache = state.cache
    if cache is None:
        # One-shot use without the cache: one list, and no usage to size anything from.
        pods = state.gateway.list_pods(args.namespace).items
        source = "list"
    else:
        if not cache.wait_synced(CACHE_SYNC_WAIT_SECONDS):
            raise ToolFailure(
                ErrorCode.NOT_READY,
                "the pod cache has not synced with the API server yet"
                + (f" ({cache.last_error})" if cache.last_error else ""),
                retryable=True,
            )
        pods = cache.pods(args.namespace)
        source = "cache"
    report = build_report(pods, state.usage, state.policy, args.namespace)
    return RightsizingResult.model_validate(
        {
            "namespace": args.namespace,
            "sampler": report.sampler,
            "settings": state.policy.rightsizing.model_dump(mode="json"),
            "containers": [r.to_dict() for r in report.recommendations],
            "totals": report.totals.to_dict(),
            "source": source,
        }
    )
