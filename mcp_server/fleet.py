"""Several clusters served by one MCP server: a `ServerState` each, one shared store.

Every tool takes an optional `cluster` argument; `Fleet.pick` turns it into that cluster's
state (its gateway, pod cache, usage sampler, verifier, policy), defaulting to the first
cluster. The first cluster's state owns the store (approvals, plans, intents, rate limits,
the audit chain); the others share it. One cluster: a fleet of one whose state has no
cluster name, so plans, approvals and audit records keep their one-cluster formats.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager

from mcp_server import metrics
from mcp_server.errors import ErrorCode
from mcp_server.state import ServerState
from mcp_server.tools.models import ToolFailure

# A cluster's name: what a kubeconfig context is usually called, without `/` (the name
# prefixes approval targets and incident keys with one).
CLUSTER_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._:@-]{0,98}[A-Za-z0-9])?$")


class Fleet:
    """cluster name -> ServerState; the first is the default."""

    def __init__(self, states: dict[str, ServerState]) -> None:
        if not states:
            raise ValueError("a fleet needs at least one cluster")
        self.states = dict(states)
        self.default = next(iter(self.states.values()))
        if len(self.states) > 1:
            for name in self.states:
                metrics.clusters_info.labels(name).set(1)

    @classmethod
    def single(cls, state: ServerState, name: str | None = None) -> Fleet:
        return cls({name or state.cluster or state.config.context or "default": state})

    @property
    def names(self) -> list[str]:
        return list(self.states)

    def __iter__(self) -> Iterator[ServerState]:
        return iter(self.states.values())

    def __len__(self) -> int:
        return len(self.states)

    def pick(self, cluster: object) -> ServerState:
        """The state of `cluster` (None: the default); an unknown name is bad input."""
        if cluster is None:
            return self.default
        if isinstance(cluster, str) and cluster in self.states:
            return self.states[cluster]
        known = self.names
        if len(known) == 1 and cluster == "default":
            return self.default
        raise ToolFailure(
            ErrorCode.INVALID_INPUT,
            f"unknown cluster {str(cluster)[:100]!r}; known: {', '.join(known)}",
            field="cluster",
            known_clusters=known,
        )

    @asynccontextmanager
    async def session(self) -> AsyncIterator[Fleet]:
        async with AsyncExitStack() as stack:
            for state in self:
                await stack.enter_async_context(state.session())
            yield self

    def ready(self) -> tuple[bool, str]:
        for name, state in self.states.items():
            ok, why = state.ready()
            if not ok:
                return False, why if len(self) == 1 else f"{name}: {why}"
        return True, "ok"

    def close(self) -> None:
        # The store's owner last: the others share its database.
        for state in reversed(list(self)):
            state.close()
