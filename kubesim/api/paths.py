"""Parse a resource URL into what it addresses (type, namespace, name, subresource, watch)."""

from __future__ import annotations

from dataclasses import dataclass

from kubesim.api.errors import ApiError, page_not_found
from kubesim.api.nodemetrics import NODE_METRICS
from kubesim.store import NAMESPACES, RESOURCE_TYPES, ResourceType


@dataclass(frozen=True)
class Target:
    rtype: ResourceType
    namespace: str | None  # None: all namespaces (or cluster-scoped)
    name: str | None
    subresource: str = ""
    legacy_watch: bool = False  # the /watch/ path prefix


def _types(group: str, version: str) -> dict[str, ResourceType]:
    return {
        rt.plural: rt
        for rt in (*RESOURCE_TYPES, NODE_METRICS)
        if rt.group == group and rt.version == version
    }


def parse(group: str, version: str, segments: list[str]) -> Target:
    """segments: what follows /api/v1 or /apis/<group>/<version>."""
    types = _types(group, version)
    if not types:
        raise page_not_found()
    legacy_watch = False
    if segments and segments[0] == "watch":
        legacy_watch = True
        segments = segments[1:]
    if not segments:
        raise page_not_found()
    namespace: str | None = None
    if (
        segments[0] == "namespaces"
        and len(segments) >= 3
        and segments[2] in types
        and (types[segments[2]].namespaced)
    ):
        namespace = segments[1]
        segments = segments[2:]
    plural = segments[0]
    rtype = types.get(plural)
    if rtype is None:
        raise page_not_found()
    if rtype.namespaced and namespace is None and len(segments) > 1:
        raise page_not_found()
    if len(segments) > 3:
        raise page_not_found()
    name = segments[1] if len(segments) > 1 else None
    sub = segments[2] if len(segments) > 2 else ""
    if rtype is NAMESPACES and name is not None:
        namespace = None
    if sub and sub not in ("status", "log", "eviction", "scale", "finalize", "resize"):
        raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
    return Target(rtype, namespace, name, sub, legacy_watch)
