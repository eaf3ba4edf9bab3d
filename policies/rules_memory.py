"""The decision table's memory rows: OOM-killed and predicted-OOM containers."""

from __future__ import annotations

from kubemedic_quantity import format_memory
from policies.actions import Action, Risk
from policies.diagnosis import ContainerResources, IssueType, MemoryTrendInfo
from policies.facts import MEMORY_PATCHABLE_KINDS, OOM_REASON
from policies.rule_context import (
    Choice,
    RulesContext,
    investigate,
    leak_parameters,
    new_memory_limit,
    trend_words,
    vpa_rule,
    with_investigate,
)


def _raise_limit(
    rules: RulesContext,
    kind: str,
    name: str,
    current: int,
    limit: int,
    reason: str,
    confidence: float,
) -> Choice:
    """The raise itself (with the milder hand-over beside it)."""
    choice = Choice(
        Action.INCREASE_MEMORY_LIMIT,
        reason,
        confidence,
        Risk.MEDIUM,
        kind,
        target=rules.workload_target(),
        parameters={
            "container": name,
            "memory_limit_bytes": limit,
            "previous_memory_limit_bytes": current,
        },
    )
    return with_investigate(choice)


# -- OOM-killed -------------------------------------------------------------------------------


def _oom_container(rules: RulesContext) -> tuple[str, ContainerResources, int] | Choice:
    """The killed container, its resources and its limit; or why it cannot be raised."""
    issue = next(
        i
        for i in rules.f.issues
        if i.type == IssueType.OOM_KILLED or OOM_REASON in (i.reason, i.last_termination_reason)
    )
    kind = IssueType.OOM_KILLED
    workload = rules.f.workload
    if workload is None:
        return investigate("OOM-killed bare pod: no workload template to raise", kind)
    if workload.kind not in MEMORY_PATCHABLE_KINDS:
        return investigate(f"OOM-killed, but a {workload.kind} template is not patched", kind)
    containers = rules.d.resources
    name = issue.container or (containers[0].name if len(containers) == 1 else None)
    resources = next((r for r in containers if r.name == name), None)
    if name is None or resources is None:
        return investigate("OOM-killed, but the container's resources are unknown", kind)
    current = resources.memory_limit_bytes
    if current is None or current == 0:
        return investigate(
            f"container {name} was OOM-killed without a memory limit: node memory pressure;"
            " set requests and limits",
            kind,
        )
    return name, resources, current


def _oom_after_raise(
    rules: RulesContext, name: str, current: int, trend: MemoryTrendInfo | None
) -> Choice | None:
    """Killed again after recent raises: a leak candidate for a human (None: raise again)."""
    kind = IssueType.OOM_KILLED
    increases = rules.done_recently(Action.INCREASE_MEMORY_LIMIT)
    if increases >= rules.policy.memory.max_increases_per_window:
        return investigate(
            f"memory limit of {name} already raised {increases} times recently and it is "
            "still OOM-killed: likely a leak" + (f"; {trend_words(trend)}" if trend else ""),
            kind,
        )
    if not increases or (trend is not None and trend.shape == "decelerating"):
        return None
    # OOM-killed again at the raised limit: raising again blindly only delays the next kill. A
    # working set seen levelling off is a bigger need (raised by the caller); anything else is
    # handed over as a leak candidate.
    evidence = (
        trend_words(trend)
        if trend is not None
        else "no usage samples to tell a leak from a larger need"
    )
    choice = investigate(
        f"container {name} OOM-killed again at {format_memory(current)} after its limit "
        f"was raised within the escalation window: leak candidate; {evidence}",
        kind,
    )
    choice.parameters.update(leak_parameters(name, trend))
    return choice


def oom(rules: RulesContext) -> Choice:
    found = _oom_container(rules)
    if isinstance(found, Choice):
        return found
    name, resources, current = found
    kind = IssueType.OOM_KILLED
    policy = rules.policy.memory
    trend = resources.memory_trend
    leak = _oom_after_raise(rules, name, current, trend)
    if leak is not None:
        return leak
    cap = rules.memory_cap()
    if current >= cap:
        return investigate(
            f"container {name} is OOM-killed at {format_memory(current)}, already at the cap "
            f"of {format_memory(cap)}",
            kind,
        )
    request = resources.memory_request_bytes
    # At an OOM kill the working set reached the limit: the limit is the least it needed.
    peak = max(
        request or 0,
        resources.memory_peak_bytes or 0,
        resources.memory_usage_bytes or 0,
        current,
    )
    if trend is not None and trend.shape == "decelerating" and trend.projected_bytes:
        peak = max(peak, trend.projected_bytes)
    wanted = new_memory_limit(peak, policy.oom_bump_ratio, policy.oom_min_bump)
    limit = min(wanted, cap)
    capped = f"; capped at {format_memory(cap)}" if limit < wanted else ""
    reason = (
        f"container {name} OOM-killed at {format_memory(current)} (peak {format_memory(peak)}, "
        f"request {format_memory(request) if request else 'none'}); "
        f"{vpa_rule(policy.oom_bump_ratio, policy.oom_min_bump, wanted)}{capped}"
    )
    return _raise_limit(rules, kind, name, current, limit, reason, 0.85)


# -- predicted OOM ----------------------------------------------------------------------------


def _predicted_container(
    rules: RulesContext,
) -> tuple[str, ContainerResources, int, MemoryTrendInfo] | Choice:
    """The container heading for its limit with a trend that levels off; or why not to raise."""
    kind = IssueType.PREDICTED_OOM
    issue = next(i for i in rules.f.issues if i.type == kind)
    workload = rules.f.workload
    name = issue.container
    resources = next((r for r in rules.d.resources if r.name == name), None)
    trend = resources.memory_trend if resources is not None else None
    if name is None or resources is None or trend is None or not resources.memory_limit_bytes:
        return investigate(
            f"container {name} is predicted to be OOM-killed, but its memory trend or "
            "limit is not in the diagnosis",
            kind,
            0.6,
        )
    current = resources.memory_limit_bytes
    words = trend_words(trend)
    if workload is None:
        return investigate(
            f"bare pod predicted to be OOM-killed ({words}): no workload template to raise",
            kind,
        )
    if workload.kind not in MEMORY_PATCHABLE_KINDS:
        return investigate(
            f"predicted OOM kill ({words}), but a {workload.kind} template is not patched",
            kind,
        )
    if trend.shape != "decelerating" or not trend.projected_bytes:
        choice = investigate(
            f"container {name} predicted to be OOM-killed at {format_memory(current)}: "
            f"likely leak, {words}; a higher limit would only delay the kill",
            kind,
        )
        choice.parameters.update(leak_parameters(name, trend))
        return choice
    return name, resources, current, trend


def predicted_oom(rules: RulesContext) -> Choice:
    """Not killed yet, but heading for it: raise a need that levels off; a steady climb is
    a likely leak for a human. Always behind an approval (see safety.auto_approved)."""
    found = _predicted_container(rules)
    if isinstance(found, Choice):
        return found
    name, resources, current, trend = found
    kind = IssueType.PREDICTED_OOM
    words = trend_words(trend)
    policy = rules.policy.memory
    increases = rules.done_recently(Action.INCREASE_MEMORY_LIMIT)
    if increases >= policy.max_increases_per_window:
        return investigate(
            f"memory limit of {name} already raised {increases} times recently and it is "
            f"still heading for its limit ({words})",
            kind,
        )
    cap = rules.memory_cap()
    if current >= cap:
        return investigate(
            f"container {name} is predicted to be OOM-killed at {format_memory(current)}, "
            f"already at the cap of {format_memory(cap)} ({words})",
            kind,
        )
    need = max(
        resources.memory_request_bytes or 0,
        resources.memory_peak_bytes or 0,
        trend.peak_bytes,
        trend.projected_bytes or 0,
    )
    wanted = new_memory_limit(need, policy.oom_bump_ratio, policy.oom_min_bump)
    limit = min(wanted, cap)
    if limit <= current:
        return investigate(
            f"container {name} is predicted to be OOM-killed ({words}), but the projected "
            f"need of {format_memory(need)} fits the current limit",
            kind,
            0.6,
        )
    capped = f"; capped at {format_memory(cap)}" if limit < wanted else ""
    reason = (
        f"container {name} predicted to be OOM-killed at {format_memory(current)}: {words}, "
        f"levelling off near {format_memory(trend.projected_bytes or 0)}; "
        f"{vpa_rule(policy.oom_bump_ratio, policy.oom_min_bump, wanted, 'need')}{capped}"
    )
    return _raise_limit(rules, kind, name, current, limit, reason, 0.7)
