"""The scenario format: one recorded incident, its behaviour, and what kubemedic must do.

A scenario file (`evals/scenarios/*.yaml`) is validated by `Scenario`. The cluster section is
the Kubernetes objects *as a cluster returned them* (with status); everything else is what a
recording cannot capture: how the workload behaves after each possible action, the answers a
human gives to approval requests, and the expectation the run is scored against.
See evals/README.md for the field-by-field description.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# The closed action set (policies.Action); duplicated as strings so the format has no imports.
WRITE_ACTIONS: frozenset[str] = frozenset(
    {
        "delete_pod",
        "delete_evicted_pod",
        "scale_down_deployment",
        "increase_memory_limit",
        "rollback_deployment",
    }
)
READ_ACTIONS: frozenset[str] = frozenset(
    {"none", "investigate_manually", "check_image_availability"}
)
ACTIONS: frozenset[str] = WRITE_ACTIONS | READ_ACTIONS
# Forbidden-list tokens beyond the action names.
ANY_WRITE = "any_write"

Outcome = Literal["healed", "handed_to_human", "healthy"]
DEFAULT_KUBE_VERSION = "1.28"
Answer = Literal["approve", "reject", "none"]
PodBehaviour = Literal["healthy", "crash", "oom", "probe_failure"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Target(_Strict):
    """The pod the incident is about (what the watch loop would have flagged)."""

    namespace: str
    pod: str


class ReadFailure(_Strict):
    """A read the recording asked for and the API server refused or failed (HTTP status and
    the Status reason, e.g. 403 Forbidden, 400 BadRequest for a container not yet started)."""

    status: int | None = None  # None: no HTTP answer (network error)
    reason: str = ""
    message: str = ""


class ContainerLogs(_Strict):
    """One container's log lines, oldest first; `previous` is the last terminated instance.

    A log that could not be read is recorded as its failure (`current_error` /
    `previous_error`), never as an empty log: "no lines" and "not readable" differ."""

    pod: str
    container: str
    namespace: str | None = None  # default: the target's namespace
    current: list[str] = Field(default_factory=list)
    previous: list[str] = Field(default_factory=list)
    current_error: ReadFailure | None = None
    previous_error: ReadFailure | None = None


class RecordingNote(_Strict):
    """Something `kubemedic record` could not read (its credentials may not, or the API
    failed): the object is missing from `cluster.objects`, and this says why."""

    kind: str  # Secret, ConfigMap, PodDisruptionBudget, PodMetrics, Namespace, ...
    name: str | None = None  # None: a list of that kind
    namespace: str | None = None
    status: int | None = None
    reason: str = ""
    message: str = ""


class ContainerUsage(_Strict):
    cpu: str = "0"  # Kubernetes quantity, e.g. "25m"
    memory: str = "0"  # e.g. "180Mi"


class PodMetrics(_Strict):
    """What metrics.k8s.io returned for a pod at recording time."""

    pod: str
    namespace: str | None = None
    containers: dict[str, ContainerUsage]


class Behaviour(_Strict):
    """How the workload behaves from now on, for each action kubemedic might take.

    `pods` overrides how an existing pod keeps behaving (default: as its status shows: a
    crashing pod keeps crashing). `after_delete` is what a fresh pod of the *current* template
    does; `after_rollback` what pods of the previous revision do; memory figures decide whether
    a raised limit helps (`memory_needed` is the steady working set; `memory_leak_per_minute`
    grows it until any limit is reached).
    """

    after_delete: PodBehaviour = "crash"
    after_rollback: PodBehaviour = "crash"
    memory_needed: str | None = None
    memory_leak_per_minute: str | None = None
    # With a leak rate: growth slows as usage nears this level (a cache warming up).
    memory_plateau: str | None = None
    crash_after_seconds: float = Field(default=3.0, ge=0)
    exit_code: int = 1
    log_lines: list[str] = Field(default_factory=list)  # what failing fresh pods print
    pods: dict[str, PodBehaviour] = Field(default_factory=dict)


class Approvals(_Strict):
    """The human's answers to approval requests: per action, else the default."""

    default: Answer = "approve"
    by_action: dict[str, Answer] = Field(default_factory=dict)
    approver: str = "oncall-sre"

    def answer_for(self, action: str) -> Answer:
        return self.by_action.get(action, self.default)

    @field_validator("by_action")
    @classmethod
    def _known_actions(cls, value: dict[str, Answer]) -> dict[str, Answer]:
        unknown = set(value) - WRITE_ACTIONS
        if unknown:
            raise ValueError(f"approvals for unknown write actions: {sorted(unknown)}")
        return value


class RateLimitRecord(_Strict):
    """An action taken before the incident, pre-seeded into the rate-limit store."""

    namespace: str
    workload: str  # e.g. "Deployment/checkout"
    action: str
    seconds_ago: float = Field(ge=0)
    count: int = Field(default=1, ge=1)


class Expect(_Strict):
    """What a careful SRE expects kubemedic to do."""

    issues: list[str] = Field(default_factory=list)  # issue types that must be detected
    action: list[str]  # acceptable gated decisions (one or more)
    writes: list[str] = Field(default_factory=list)  # actions that must be written
    may_write: list[str] = Field(default_factory=list)  # also allowed (e.g. before an escalation)
    forbidden: list[str] = Field(default_factory=list)  # never written ("any_write": nothing)
    outcome: list[Outcome]
    secrets: list[str] = Field(default_factory=list)  # must never reach the LLM or the audit
    # Write actions a human was asked to approve, in order (None: not checked).
    approvals: list[str] | None = None
    # A subset of the first gated decision's parameters; memory figures as quantities ("228Mi").
    parameters: dict[str, Any] = Field(default_factory=dict)
    # Phrases the agent's report must contain: its summary or the verifier's verdict.
    says: list[str] = Field(default_factory=list)
    # True: the pods resized through pods/resize run on the new limit, no restart since the
    # resize; False: resizes were asked but none took effect in place (Infeasible / Deferred).
    resized_in_place: bool | None = None
    # Container restarts of the workload's pods when the incident opened (0: before any kill).
    restarts_at_open: int | None = None

    @field_validator("action", "outcome", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> Expect:
        for field_name in ("action", "writes", "may_write"):
            unknown = set(getattr(self, field_name)) - ACTIONS
            if unknown:
                raise ValueError(f"expect.{field_name}: unknown actions {sorted(unknown)}")
        unknown = set(self.forbidden) - ACTIONS - {ANY_WRITE}
        if unknown:
            raise ValueError(f"expect.forbidden: unknown actions {sorted(unknown)}")
        clash = (set(self.writes) | set(self.may_write)) & set(self.forbidden)
        if clash or (ANY_WRITE in self.forbidden and (self.writes or self.may_write)):
            raise ValueError(f"expect: actions both expected and forbidden: {sorted(clash)}")
        if set(self.writes) - WRITE_ACTIONS:
            raise ValueError("expect.writes lists only write actions")
        if set(self.approvals or []) - WRITE_ACTIONS:
            raise ValueError("expect.approvals lists only write actions")
        return self

    @property
    def no_write(self) -> bool:
        return not self.writes and not self.may_write


class Cluster(_Strict):
    """The recorded objects; `recorded_at` anchors their timestamps on the simulated clock;
    `kube_version` is the Kubernetes version the simulated cluster serves (the recording's)."""

    recorded_at: str | None = None  # RFC 3339
    kube_version: str = DEFAULT_KUBE_VERSION
    objects: list[dict[str, Any]]

    @field_validator("kube_version", mode="before")
    @classmethod
    def _served_version(cls, value: Any) -> Any:
        from kubesim.version import VERSIONS

        text = str(value) if isinstance(value, (str, int, float)) else value
        if not isinstance(text, str) or text not in VERSIONS:
            raise ValueError(
                f"cluster.kube_version {value!r}: kubesim serves Kubernetes "
                f'{", ".join(VERSIONS)} (written as "1.33", quoted)'
            )
        return text


class Replay(_Strict):
    """How the harness drives the run (default: the incident graph for `target`, at once).

    `open_by: watch` runs the autonomous loop (`agent.watch.run_watch`) instead: it polls
    `list_unhealthy_pods` every `usage_sample_seconds` of simulated time and must open the
    incident itself, within `observe_seconds`. `usage_sample_seconds` > 0 runs the MCP server's
    usage sampler (with its pod cache), one round per that many simulated seconds, as in
    production; with `open_by: target`, `observe_seconds` of simulated time pass (sampled)
    before the incident opens."""

    open_by: Literal["target", "watch"] = "target"
    usage_sample_seconds: float = Field(default=0.0, ge=0)
    observe_seconds: float = Field(default=0.0, ge=0, le=24 * 3600)

    @model_validator(mode="after")
    def _sampled_watch(self) -> Replay:
        if self.open_by == "watch" and (not self.usage_sample_seconds or not self.observe_seconds):
            raise ValueError(
                "replay: open_by watch needs usage_sample_seconds (the poll pace) and "
                "observe_seconds (how long the loop may look)"
            )
        return self


class Scenario(_Strict):
    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    tags: list[str] = Field(default_factory=list)
    description: str = ""
    notes: list[RecordingNote] = Field(default_factory=list)  # what a recording could not read
    target: Target
    policy: str = "default"  # a shipped policy name or a path
    # Merged over the policy's own fields (nested mappings merged), e.g. {memory: {max: 2Gi}}.
    policy_overrides: dict[str, Any] = Field(default_factory=dict)
    replay: Replay = Field(default_factory=Replay)
    cluster: Cluster
    logs: list[ContainerLogs] = Field(default_factory=list)
    metrics: list[PodMetrics] = Field(default_factory=list)
    behaviour: Behaviour = Field(default_factory=Behaviour)
    approvals: Approvals = Field(default_factory=Approvals)
    rate_limits: list[RateLimitRecord] = Field(default_factory=list)
    expect: Expect

    @model_validator(mode="after")
    def _target_recorded(self) -> Scenario:
        for obj in self.cluster.objects:
            meta = obj.get("metadata", {})
            if (
                obj.get("kind") == "Pod"
                and meta.get("name") == self.target.pod
                and meta.get("namespace") == self.target.namespace
            ):
                return self
        raise ValueError(
            f"target pod {self.target.namespace}/{self.target.pod} is not in cluster.objects"
        )

    def objects_of(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.cluster.objects if o.get("kind") == kind]


# libyaml's safe loader when present: ten times faster on a set of large recordings.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class ScenarioError(ValueError):
    """A scenario file that cannot be read or does not validate; names the file."""


def load_scenario(path: Path) -> Scenario:
    try:
        data = yaml.load(path.read_text(), Loader=_Loader)
        return Scenario.model_validate(data)
    except (OSError, yaml.YAMLError, ValueError) as exc:
        raise ScenarioError(f"{path}: {exc}") from exc


def load_scenarios(directory: Path, only: list[str] | None = None) -> list[Scenario]:
    """Every `*.yaml` in a directory, sorted by name; `only` keeps those names (all must exist)."""
    scenarios = [load_scenario(p) for p in sorted(directory.glob("*.yaml"))]
    names = [s.name for s in scenarios]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ScenarioError(f"{directory}: duplicate scenario names {sorted(duplicates)}")
    if only:
        missing = set(only) - set(names)
        if missing:
            raise ScenarioError(f"{directory}: no scenarios named {sorted(missing)}")
        scenarios = [s for s in scenarios if s.name in only]
    return scenarios


def dump_scenario(scenario: Scenario) -> str:
    """YAML text in the field order of the model, with block style for readability."""
    data = scenario.model_dump(mode="json", exclude_defaults=True)
    ordered = {key: data[key] for key in _DUMP_ORDER if key in data}
    return yaml.dump(ordered, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)


# The expectation first, the bulky recording last: a reviewer reads the top of the file.
_DUMP_ORDER = (
    "name",
    "tags",
    "description",
    "notes",
    "target",
    "policy",
    "policy_overrides",
    "replay",
    "expect",
    "behaviour",
    "approvals",
    "rate_limits",
    "logs",
    "metrics",
    "cluster",
)


def default_scenarios_dir() -> Path:
    return Path(__file__).resolve().parent / "scenarios"
