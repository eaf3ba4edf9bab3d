"""What every rule of the decision table shares: the verdict type, the reason wording,
and the evaluation context (diagnosis, decision context, facts, recent history)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import timedelta

from kubemedic_quantity import MI, format_memory
from policies.actions import Action, Risk
from policies.decision import HAPPENED, ActionRecord, DecisionContext, ParamValue, Target
from policies.diagnosis import Diagnosis, MemoryTrendInfo
from policies.facts import Facts


@dataclass(slots=True)
class Choice:
    """A rule's verdict before the safety checks."""

    action: Action
    reason: str
    confidence: float
    risk: Risk
    issue_type: str | None
    target: Target | None = None  # None: the pod
    parameters: dict[str, ParamValue] = field(default_factory=dict)
    milder: list[Choice] = field(default_factory=list)


def new_memory_limit(peak: int, ratio: float, min_bump: int) -> int:
    """The Vertical Pod Autoscaler's OOM rule: max(peak + min_bump, peak * ratio), rounded up
    to a whole Mi (a readable quantity)."""
    wanted = max(peak + min_bump, math.ceil(peak * ratio))
    return -(-wanted // MI) * MI


def vpa_rule(ratio: float, min_bump: int, limit: int, peak_name: str = "peak") -> str:
    return (
        f"VPA rule max({peak_name}+{format_memory(min_bump)}, {peak_name}×{ratio:g}) = "
        f"{format_memory(limit)}"
    )


def trend_words(trend: MemoryTrendInfo) -> str:
    """The trend as a reason quotes it: rate, shape, samples, time to the limit."""
    shape = {"decelerating": "slowing down", "linear": "linearly"}.get(trend.shape, trend.shape)
    words = (
        f"working set {format_memory(trend.usage_bytes)} growing "
        f"~{trend.rate_mib_per_minute:.1f}Mi/min {shape} "
        f"({trend.samples} samples over {trend.span_minutes:.0f} min)"
    )
    if trend.minutes_to_limit is not None:
        words += f", limit reached in ~{trend.minutes_to_limit:.0f} min"
    return words


def investigate(reason: str, issue_type: str | None, confidence: float = 0.9) -> Choice:
    return Choice(Action.INVESTIGATE_MANUALLY, reason, confidence, Risk.LOW, issue_type)


CLIP = 200  # characters of cluster-supplied text (messages, image names) quoted in a reason


def clip(text: str) -> str:
    """Cluster text quoted in a reason, bounded: reasons go to audit records and prompts."""
    return text if len(text) <= CLIP else text[: CLIP - 1] + "…"


_HAND_OVER = {action: f"hand over to a human instead of {action}" for action in Action}


def with_investigate(choice: Choice, *milder: Choice) -> Choice:
    """Attach the milder alternatives; handing over to a human is always among them."""
    choice.milder = [*milder, investigate(_HAND_OVER[choice.action], choice.issue_type)]
    return choice


def leak_parameters(container: str, trend: MemoryTrendInfo | None) -> dict[str, ParamValue]:
    """What a leak hand-over carries for the human (and the agent's report)."""
    params: dict[str, ParamValue] = {"container": container, "leak_candidate": "true"}
    if trend is not None:
        params["rate_mib_per_minute"] = f"{trend.rate_mib_per_minute:.2f}"
        params["trend_shape"] = trend.shape
        params["trend_samples"] = trend.samples
        if trend.minutes_to_limit is not None:
            params["minutes_to_limit"] = f"{trend.minutes_to_limit:.1f}"
    return params


class RulesContext:
    """One evaluation of the table: the diagnosis, context and facts the rules share."""

    in_job_guard = False  # deciding for a Job's pod: the choice is then made read-only

    def __init__(self, diagnosis: Diagnosis, context: DecisionContext, facts: Facts) -> None:
        self.d = diagnosis
        self.ctx = context
        self.f = facts
        self.policy = context.policy
        self.history: list[ActionRecord] = []
        if context.recent_actions:
            window = timedelta(seconds=self.policy.escalation_window_seconds)
            self.history = context.actions_since(context.now - window, HAPPENED)

    def done_recently(self, action: Action) -> int:
        if not self.history:
            return 0
        return sum(1 for record in self.history if record.action == action)

    def workload_target(self) -> Target:
        workload = self.f.workload
        assert workload is not None
        return Target(workload.kind, self.f.namespace, workload.name)

    def memory_cap(self) -> int:
        """The policy's `memory.max`, lowered by the namespace's LimitRange max if any."""
        cap = self.policy.memory.max
        range_max = self.d.limit_range_max_memory_bytes
        return cap if range_max is None else min(cap, range_max)

    def choose(self) -> Choice:
        """The table's verdict (the rules module defines the order of the rows)."""
        raise NotImplementedError
