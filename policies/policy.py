"""The policy file: thresholds, limits, protected namespaces, rate limits, approvals.

Loaded from YAML and validated by pydantic; unknown keys are errors (a typo must not silently
fall back to a default), and every error names the field that is wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from kubemedic_quantity import parse_memory
from policies.actions import WRITE_ACTIONS, Action, Risk

DEFAULT_POLICY_PATH = Path(__file__).with_name("default.yaml")
DEMO_POLICY_PATH = Path(__file__).with_name("demo.yaml")

ALWAYS_PROTECTED: tuple[str, ...] = ("kube-system", "kube-public", "kube-node-lease")


class PolicyError(ValueError):
    """The policy file is missing, not YAML, or has a bad field (named in the message)."""


# Bytes from a memory quantity (`512Mi`, `1G`, `1048576`) or a plain int; ValueError otherwise.
parse_memory_quantity = parse_memory


MemoryBytes = Annotated[int, BeforeValidator(parse_memory_quantity), Field(gt=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MemoryPolicy(_Strict):
    """Memory limits sized from evidence (docs/decision-table.md, "The memory formula").

    After an OOM kill: new limit = max(peak + oom_min_bump, peak * oom_bump_ratio), the rule
    the Vertical Pod Autoscaler applies to OOM-killed containers, where peak is the larger of
    the request, the observed peak and the limit at the kill; capped by `max` (and the
    namespace's LimitRange).
    """

    oom_bump_ratio: float = Field(default=1.2, gt=1.0, le=10.0)
    oom_min_bump: MemoryBytes = 100 * 2**20
    max: MemoryBytes = 4 * 2**30
    # Raising the limit again and again within the escalation window smells like a leak.
    max_increases_per_window: int = Field(default=2, ge=1)
    # A container whose working set reaches its limit within this many minutes at its current
    # pace is reported (PredictedOOM) before it is killed.
    predict_horizon_minutes: float = Field(default=30.0, gt=0, le=24 * 60)


class RightsizingPolicy(_Strict):
    """Right-sizing recommendations from observed usage (docs/rightsizing.md), VPA-style.

    Requests: p95 of the window x (1 + safety_margin) (VPA's recommender adds 15 %,
    `--recommendation-margin-fraction`); memory limit: the peak x (1 + safety_margin), at
    least the OOM rule's max(peak + `memory.oom_min_bump`, peak x `memory.oom_bump_ratio`);
    CPU limits are not recommended. Never
    below the minimums (per container). A container with fewer than `min_samples` samples, or
    samples spanning less than `min_span_seconds`, has not enough data.
    """

    safety_margin: float = Field(default=0.15, ge=0.0, le=2.0)
    min_cpu_millicores: int = Field(default=10, ge=1)
    min_memory: MemoryBytes = 16 * 2**20
    min_samples: int = Field(default=8, ge=2)
    min_span_seconds: float = Field(default=105.0, ge=0)
    # A request more than this far above the recommendation (and by more than 16Mi / 10m) is
    # over-provisioned.
    over_provisioned_ratio: float = Field(default=1.3, gt=1.0, le=100.0)


class RateLimits(_Strict):
    global_per_hour: int = Field(default=10, ge=0)
    per_workload_per_hour: int = Field(default=3, ge=0)
    # Minimum seconds between two writes of the same action on one workload.
    cooldown_per_workload_seconds: int = Field(default=300, ge=0)
    # One agent over several clusters: `cluster` counts global_per_hour per cluster, `global`
    # across all of them (per workload and cooldown are always per cluster's workload).
    scope: Literal["cluster", "global"] = "cluster"


class Policy(_Strict):
    """What an operator decides; see docs/decision-table.md for how the rules read it."""

    name: str = "default"
    restart_threshold: int = Field(default=3, ge=0)
    memory: MemoryPolicy = Field(default_factory=MemoryPolicy)
    rightsizing: RightsizingPolicy = Field(default_factory=RightsizingPolicy)
    min_replicas: int = Field(default=1, ge=0)
    protected_namespaces: tuple[str, ...] = ALWAYS_PROTECTED
    agent_namespace: str = "kubemedic"  # always protected as well
    rate_limits: RateLimits = Field(default_factory=RateLimits)
    auto_approve: frozenset[Action] = frozenset()
    auto_approve_max_risk: Risk = Risk.LOW
    trusted_callers: frozenset[str] = frozenset()  # may use force to skip the approval
    approval_ttl_seconds: int = Field(default=900, gt=0)
    # Write actions whose approval the MCP server may ask for through MCP elicitation: the
    # third-party host (an HTTP token caller whose client declared the capability) puts the
    # question to its user. Empty: off, every approval is granted out of band.
    approval_elicitation: frozenset[Action] = frozenset()
    # How long the server waits for the host's user to answer; no answer: `approval_required`.
    approval_elicitation_timeout_seconds: int = Field(default=300, gt=0)
    escalation_window_seconds: int = Field(default=3600, gt=0)

    @field_validator("approval_elicitation", mode="before")
    @classmethod
    def _elicitation_actions(cls, value: Any) -> Any:
        """Only write actions need an approval: any other name is a mistake, named."""
        writes = sorted(a.value for a in WRITE_ACTIONS)
        if isinstance(value, str) or not isinstance(value, list | tuple | set | frozenset):
            raise ValueError(f"expected a list of write actions, e.g. [{', '.join(writes)}]")
        unknown = [str(v) for v in value if str(v) not in writes]
        if unknown:
            raise ValueError(
                f"not a write action: {', '.join(unknown)} (the write actions, which need an "
                f"approval, are: {', '.join(writes)})"
            )
        return value

    def is_protected(self, namespace: str) -> bool:
        """No write may touch the listed namespaces, the kube-* ones, or the agent's own."""
        return (
            namespace in self.protected_namespaces
            or namespace in ALWAYS_PROTECTED
            or namespace == self.agent_namespace
        )

    def updated(self, **changes: Any) -> Policy:
        """A validated copy with some fields changed, e.g. `updated(agent_namespace=ns)`."""
        return policy_from_dict({**self.model_dump(), **changes}, f"{self.name} (updated)")


def _format_error(source: str, error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"{where}: {item['msg']}")
    return f"policy {source}: " + "; ".join(lines)


def policy_from_dict(data: Any, source: str = "<dict>") -> Policy:
    """Validate a mapping as a Policy; PolicyError names each bad field."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PolicyError(f"policy {source}: expected a mapping at the top level")
    try:
        return Policy.model_validate(data)
    except ValidationError as error:
        raise PolicyError(_format_error(source, error)) from None


def load_policy(path: str | Path | None = None) -> Policy:
    """Load and validate a policy YAML file; None loads the shipped policies/default.yaml."""
    file = Path(path) if path is not None else DEFAULT_POLICY_PATH
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise PolicyError(f"policy {file}: cannot read: {error.strerror or error}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise PolicyError(f"policy {file}: not valid YAML: {error}") from None
    return policy_from_dict(data, str(file))
