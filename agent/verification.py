"""The verify node: ask the server's verifier until it decides; after a memory raise, also
sample the rolled-out pod's memory and call a still-rising usage a leak, not healed.

No write slot is held while verifying: the server's verifier answers a status (pending /
healed / not_healed) from its watch cache, and this node only asks for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from agent.memtrend import MemorySample, MemoryTrend, sample_of, trend
from agent.state import IncidentState, TimelineEntry, entry
from agent.tools import CHECK_RESOURCE_USAGE, GET_ACTION_STATUS, ToolCallError
from kubemedic_contract import ActionStatusResult, ResourceUsageResult
from policies import Action, Outcome, parse_action

if TYPE_CHECKING:
    from agent.context import IncidentContext


def _tl(node: str, event: str, detail: str = "") -> list[TimelineEntry]:
    return [entry(node, event, detail)]


@dataclass(slots=True)
class _MemoryWatch:
    """The memory samples of the pod a memory-limit raise rolled out, over one verification."""

    pod: str | None  # the rolled-out pod, once the verifier names it
    container: str | None
    samples: list[MemorySample] = field(default_factory=list)
    gone: bool = False
    errors: list[str] = field(default_factory=list)

    def wants_more(self, min_samples: int) -> bool:
        # Sampling has started but has too few points for a trend: keep looking a little
        # longer (bounded by verify_max_checks). No sample at all: metrics are not there.
        return not self.gone and 0 < len(self.samples) < min_samples


def _raised_memory(state: IncidentState) -> bool:
    history = state.get("history") or []
    taken = history[-1].get("action") if history else state.get("action")
    return parse_action(taken) is Action.INCREASE_MEMORY_LIMIT


def _raised_container(state: IncidentState) -> str | None:
    decision = (state.get("gate") or {}).get("decision") or {}
    name = (decision.get("parameters") or {}).get("container")
    return str(name) if name else None


@dataclass(slots=True)
class _Looks:
    """What the verify node saw: every look, the last answer, the verdict if one came."""

    looks: list[dict[str, Any]] = field(default_factory=list)
    last: dict[str, Any] | None = None
    final: dict[str, Any] | None = None


def _verdict(
    state: IncidentState,
    seen: _Looks,
    watch: _MemoryWatch | None,
    memory: MemoryTrend | None,
    memory_note: str | None,
    deps: IncidentContext,
) -> dict[str, Any]:
    """The verify node's update from what it saw (pure)."""
    workload = state.get("workload")
    final, last, looks = seen.final, seen.last, seen.looks
    leak = memory is not None and memory.leak
    healed = final is not None and final.get("status") == "healed" and not leak
    verdict = "pending" if final is None else str(final.get("status"))
    verification: dict[str, Any] = {
        "healed": healed,
        "status": verdict,
        "action_id": state.get("action_id"),
        "checks": len(looks),
        "interval_seconds": deps.verify_interval_seconds,
        "server": final or last,
        "last": looks[-1] if looks else None,
        "leak": leak,
    }
    if watch is not None:
        verification["memory"] = _memory_record(watch, memory)
    history = [dict(item) for item in state.get("history") or []]
    if history:
        history[-1]["outcome"] = (Outcome.HEALED if healed else Outcome.NOT_HEALED).value
    evidence = str((final or last or {}).get("message") or "no answer from the verifier")
    timeline = _tl(
        "verify",
        "healed" if healed else "not_healed",
        f"{workload}: {verdict} after {len(looks)} looks: {evidence}"[:300],
    )
    if memory is not None:
        timeline += _tl("verify", "leak" if leak else "memory_trend", memory.describe())
        if memory_note:
            timeline += _tl("verify", "warming_up", memory_note[:300])
    elif memory_note:
        timeline += _tl("verify", "memory_unverified", memory_note[:300])
    update: dict[str, Any] = {
        "verification": verification,
        "history": history,
        "timeline": timeline,
    }
    if healed:
        update["outcome"] = "healed"
        update["summary"] = f"{state.get('action')} healed {workload}"
    elif state.get("escalated") and not leak:
        update["outcome"] = "not_healed"
        update["summary"] = (
            f"{workload} still unhealthy after {state.get('action')} (already escalated): "
            "a human must take over"
        )
    return update


def verifying_entry(state: Mapping[str, Any]) -> TimelineEntry:
    """What is being verified, as the verify node starts (also when a restarted process picks
    the incident up there): the action, the workload it is judged on, the server's action id."""
    workload = state.get("workload") or f"{state.get('namespace')}/{state.get('pod_name')}"
    detail = f"{state.get('action')} on {workload}: action {state.get('action_id')}"
    return entry("verify", "verifying", detail[:300])


async def verify_node(deps: IncidentContext, state: IncidentState) -> dict[str, Any]:
    """Ask the server's verifier about the action until it decides (no write slot is
    held meanwhile); after a memory raise, also sample the rolled-out pod's memory."""
    watch, memory_note = _memory_watch(deps, state)
    seen = await _ask_verifier(deps, state, watch)
    memory: MemoryTrend | None = None
    if watch is not None:
        memory = trend(
            watch.samples,
            horizon_minutes=deps.leak_horizon_minutes,
            min_samples=deps.leak_min_samples,
        )
        warming = _warming_up(state, memory) if memory is not None and memory.leak else None
        if memory is not None and warming is not None:
            memory, memory_note = replace(memory, leak=False), warming
        if memory is None:
            memory_note = (
                f"memory of {watch.pod} not sampled enough for a trend "
                f"({len(watch.samples)} samples"
                + (f"; {watch.errors[-1]}" if watch.errors else "")
                + "): verified on pod health alone"
            )
    return _verdict(state, seen, watch, memory, memory_note, deps)


def _sized_for_plateau(state: IncidentState) -> int | None:
    """The working set a raise decided on a levelling-off trend was sized for: the projected
    level of the diagnosis's decelerating trend for the raised container (None otherwise)."""
    name = _raised_container(state)
    for resources in (state.get("diagnosis") or {}).get("resources") or []:
        if not isinstance(resources, dict) or resources.get("name") != name:
            continue
        found = resources.get("memory_trend") or {}
        projected = found.get("projected_bytes")
        if found.get("shape") == "decelerating" and isinstance(projected, int) and projected > 0:
            return projected
    return None


def _warming_up(state: IncidentState, memory: MemoryTrend) -> str | None:
    """A rolled-out pod still rising below the level the raise was sized for is the warm-up
    the decision predicted (a cache filling), not a leak: a few looks cannot show it level
    off. Why, or None when it is not that."""
    plateau = _sized_for_plateau(state)
    decision = (state.get("gate") or {}).get("decision") or {}
    limit = (decision.get("parameters") or {}).get("memory_limit_bytes")
    if plateau is None or not isinstance(limit, int) or plateau >= limit:
        return None
    if memory.usage_bytes > plateau:
        return None  # past the predicted level: that is no warm-up any more
    return (
        f"still rising ({memory.describe()}), below the {plateau // 2**20}Mi the raise was "
        "sized for (a levelling-off trend): the predicted warm-up, not a leak"
    )


def _memory_record(watch: _MemoryWatch, memory: MemoryTrend | None) -> dict[str, Any]:
    """The memory samples and trend of a verification after a memory raise (for the state)."""
    return {
        "pod": watch.pod,
        "container": watch.container,
        "samples": [
            {"at_seconds": m.at_seconds, "usage_bytes": m.usage_bytes} for m in watch.samples
        ],
        "trend": None if memory is None else memory.to_dict(),
    }


async def _ask_verifier(
    deps: IncidentContext, state: IncidentState, watch: _MemoryWatch | None
) -> _Looks:

    action_id = state.get("action_id")
    seen = _Looks()
    elapsed = 0.0
    for _ in range(deps.verify_max_checks if action_id else 0):
        await deps.sleep(deps.verify_interval_seconds)
        elapsed += deps.verify_interval_seconds
        try:
            answer = await deps.toolbox.typed(
                GET_ACTION_STATUS, ActionStatusResult, action_id=action_id
            )
        except ToolCallError as failed:
            seen.looks.append({"ok": False, "error": failed.code})
            continue
        found = answer.verification
        # The state keeps the verifier's answer as it was sent (JSON).
        last = seen.last = (
            {} if found is None else found.model_dump(mode="json", exclude_unset=True)
        )
        status = None if found is None else found.status
        message = None if found is None else found.message
        seen.looks.append({"ok": True, "status": status, "message": message})
        if watch is not None:
            if watch.pod is None and found is not None and found.new_pod_name:
                watch.pod = found.new_pod_name
            await _sample_memory(deps, state["namespace"], watch, elapsed)
        if status in ("healed", "not_healed"):
            seen.final = last
            sampling = watch is not None and watch.wants_more(deps.leak_min_samples)
            if not (status == "healed" and sampling):
                break
    return seen


def _memory_watch(
    deps: IncidentContext, state: IncidentState
) -> tuple[_MemoryWatch | None, str | None]:
    """What to sample after a memory-limit raise (None and why not: health alone)."""
    if not _raised_memory(state):
        return None, None
    if not deps.toolbox.has(CHECK_RESOURCE_USAGE):
        return None, "check_resource_usage is not served: verified on pod health alone"
    return _MemoryWatch(pod=None, container=_raised_container(state)), None


async def _sample_memory(
    deps: IncidentContext, namespace: str, watch: _MemoryWatch, at: float
) -> None:
    if watch.gone or watch.pod is None:
        return
    try:
        result = await deps.toolbox.typed(
            CHECK_RESOURCE_USAGE, ResourceUsageResult, namespace=namespace, pod_name=watch.pod
        )
    except ToolCallError as failed:
        if failed.code == "not_found":
            watch.gone = True
            watch.errors.append(f"{watch.pod} is gone")
        else:
            watch.errors.append(f"check_resource_usage: {failed.code}")
        return
    sample = sample_of(result, watch.container, at)
    if sample is None:
        message = result.metrics_message or "metrics unavailable"
        watch.errors.append(str(message)[:200])
        return
    watch.samples.append(sample)
