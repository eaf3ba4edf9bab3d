"""The clusters one agent serves: `--context A --context B`, or a clusters file.

A clusters file is a YAML list of `{name, context, kubeconfig?, policy?}` (the name defaults to
the context). One context (or none): one cluster, exactly the one-cluster behaviour.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mcp_server.fleet import CLUSTER_NAME

if TYPE_CHECKING:
    from mcp_server.config import ServerConfig
    from mcp_server.fleet import Fleet


class ClusterSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    context: str | None = None
    kubeconfig: Path | None = None
    policy: Path | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not CLUSTER_NAME.match(value):
            raise ValueError(
                f"cluster name {value!r}: letters, digits and . _ : @ - only (no '/'); "
                "give the cluster a name in a clusters file"
            )
        return value


class ClustersError(ValueError):
    """The clusters cannot be read as given."""


def load_clusters_file(path: Path) -> list[ClusterSpec]:
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ClustersError(f"cannot read clusters file {path}: {error}") from error
    if isinstance(raw, dict) and "clusters" in raw:
        raw = raw["clusters"]
    if not isinstance(raw, list) or not raw:
        raise ClustersError(f"{path}: expected a YAML list of {{name, context, ...}}")
    specs = []
    for item in raw:
        if not isinstance(item, dict):
            raise ClustersError(f"{path}: every cluster is a mapping, got {item!r}")
        entry = dict(item)
        entry.setdefault("name", entry.get("context"))
        base = path.parent
        for key in ("kubeconfig", "policy"):
            if entry.get(key) is not None and not Path(entry[key]).is_absolute():
                entry[key] = base / entry[key]
        try:
            specs.append(ClusterSpec.model_validate(entry))
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in e['loc'])}: "
                + e["msg"].removeprefix("Value error, ")
                for e in error.errors()
            )
            raise ClustersError(f"{path}: {problems}") from None
    return _unique(specs)


def clusters_of(
    contexts: list[str] | tuple[str, ...],
    clusters_file: Path | None,
    kubeconfig: Path | None = None,
) -> list[ClusterSpec]:
    """Several clusters, or [] for one (the one-cluster path, unchanged)."""
    if clusters_file is not None:
        specs = load_clusters_file(clusters_file)
        return [
            spec if spec.kubeconfig else spec.model_copy(update={"kubeconfig": kubeconfig})
            for spec in specs
        ]
    if len(contexts) <= 1:
        return []
    try:
        specs = [ClusterSpec(name=c, context=c, kubeconfig=kubeconfig) for c in contexts]
    except ValueError as error:
        raise ClustersError(str(error)) from error
    return _unique(specs)


def _unique(specs: list[ClusterSpec]) -> list[ClusterSpec]:
    names = [spec.name for spec in specs]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ClustersError(f"cluster names must be unique: {', '.join(twice)}")
    return specs


def build_fleet(specs: list[ClusterSpec], config: ServerConfig) -> Fleet | None:
    """Several clusters: a `Fleet` of one server state per cluster (its kubeconfig, context
    and policy; `config`'s where the spec names none), sharing the first one's store. None for
    one cluster (`specs` empty): the caller builds the one-cluster state."""
    from mcp_server.fleet import Fleet
    from mcp_server.gateway import Gateway
    from mcp_server.state import ServerState

    if not specs:
        return None
    states: dict[str, ServerState] = {}
    first: ServerState | None = None
    try:
        for spec in specs:
            own = config.model_copy(
                update={
                    "kubeconfig": spec.kubeconfig or config.kubeconfig,
                    "context": spec.context,
                    "policy_path": spec.policy or config.policy_path,
                }
            )
            state = ServerState(own, Gateway.from_config(own), cluster=spec.name, shared=first)
            first = first or state
            states[spec.name] = state
    except BaseException:
        for state in reversed(list(states.values())):
            state.close()
        raise
    return Fleet(states)
