"""The act node: execute the server's plan with the granted approval (if any).

The first call carries no approval: the server answers `approval_required` with an approval
id (and writes nothing) unless the policy auto-approves the action; the approve node then
waits for a human and this node runs again with the granted id. A plan gone stale while
waiting is planned afresh; an approval that cannot be used is asked for again.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from langgraph.runtime import Runtime

from agent import metrics
from agent.context import IncidentContext
from agent.nodes.approve import approval_payload
from agent.nodes.common import incident_log, notify, refused, timeline
from agent.state import IncidentState, TimelineEntry
from agent.tools import AUTO_HEAL_POD, PLAN_HEALING, ToolCallError
from kubemedic_contract import HealResult, PlanResult
from policies import WRITE_ACTIONS, Action, Outcome, parse_action

# Approvals that cannot be used as they are; the act node asks the server for a new one.
_APPROVAL_UNUSABLE = {"approval_not_granted", "approval_expired", "approval_not_found"}
# A write's answer: what the server did, or the typed error it answered with.
Answer = HealResult | ToolCallError
# Bound on act calls in one incident (first try, retry with approval, escalation and its retry).
MAX_ACT_CALLS = 6


async def act(state: IncidentState, runtime: Runtime[IncidentContext]) -> dict[str, Any]:
    context = runtime.context
    action = state.get("action") or Action.INVESTIGATE_MANUALLY.value
    attempts = int(state.get("attempts") or 0) + 1
    nothing_to_call = _no_call(action, attempts)
    if nothing_to_call is not None:
        return nothing_to_call
    approval_id = state.get("approval_id")
    plan: Mapping[str, Any] = state.get("plan") or {}
    plan_id = str(plan.get("plan_id") or "")
    update: dict[str, Any] = {"attempts": attempts}
    steps: list[TimelineEntry] = []
    with incident_log(state):
        if plan.get("action") != action:
            # A human edited the action to a milder one: the server plans that one.
            planned = await _plan(context, state, action)
            if isinstance(planned, ToolCallError):
                return {**update, **refused("act", state, planned.result(), action)}
            update["plan"], plan_id = _plan_state(planned), planned.plan_id or ""
        result = await _execute(context, state, plan_id, approval_id)
        if _code(result) == "plan_stale":
            # The pod or its workload moved on while we waited (e.g. for a human): a fresh
            # plan; a destructive one needs a fresh approval for what it now does.
            steps += timeline("act", "plan_stale", _message(result)[:300])
            planned = await _plan(context, state, action)
            if isinstance(planned, ToolCallError):
                refusal = refused("act", state, planned.result(), action)
                return {**update, **refusal, "action_result": _result_state(result)}
            update["plan"], plan_id = _plan_state(planned), planned.plan_id or ""
            approval_id = None
            result = await _execute(context, state, plan_id, None)
        if _replayed_unwritten(result):
            # This incident's attempt before a restart never reached the cluster (the server
            # read it and recorded it not applied): one new attempt under a new key.
            steps += timeline("act", "not_applied_before", _message(result)[:300])
            result = await _execute(context, state, plan_id, approval_id, attempt=attempts)
        unusable = _code(result)
        if approval_id and unusable in _APPROVAL_UNUSABLE:
            # Resumed without a usable grant (expired, or answered somewhere that cannot
            # grant the server's record): ask again instead of giving up.
            steps += timeline("act", str(unusable), _message(result)[:300])
            result = await _execute(context, state, plan_id, None)
    update["action_result"] = _result_state(result)
    answered = await _answered(context, state, result, action, approval_id, steps)
    return {**update, **answered}


def _no_call(action: str, attempts: int) -> dict[str, Any] | None:
    """The update when there is nothing (more) to call, else None."""
    if attempts > MAX_ACT_CALLS:
        return {
            "outcome": "failed",
            "summary": f"gave up after {MAX_ACT_CALLS} calls to {AUTO_HEAL_POD}",
            "timeline": timeline("act", "gave_up"),
        }
    if action in (Action.NONE.value, Action.INVESTIGATE_MANUALLY.value):
        # Reached after a human edited the action down to a hand-over: nothing to call.
        return {
            "outcome": "handed_to_human",
            "summary": f"{action}: handed to a human",
            "timeline": timeline("act", "handed_to_human", action),
        }
    return None


async def _answered(
    context: IncidentContext,
    state: IncidentState,
    result: Answer,
    action: str,
    approval_id: str | None,
    steps: list[TimelineEntry],
) -> dict[str, Any]:
    """The update from the server's last answer: acted, waiting for a human, or refused."""
    if not isinstance(result, ToolCallError):
        return _acted(state, result, action, approval_id, steps)
    if result.code == "approval_required":
        payload = approval_payload(state, action, result.result()["error"])
        await notify(context, {**payload, "kind": "approval"})
        return {
            "pending_approval": payload,
            "timeline": steps
            + timeline("act", "approval_required", f"{action} approval {payload['approval_id']}"),
        }
    ended = _server_hand_over(result) or refused("act", state, result.result(), action)
    return {**ended, "timeline": steps + ended["timeline"]}


async def _plan(
    context: IncidentContext, state: IncidentState, action: str
) -> PlanResult | ToolCallError:
    try:
        return await context.toolbox.typed(
            PLAN_HEALING,
            PlanResult,
            namespace=state["namespace"],
            pod_name=state["pod_name"],
            action=action,
        )
    except ToolCallError as failed:
        return failed


def _plan_state(plan: PlanResult) -> dict[str, Any]:
    """The plan as the state keeps it (JSON): its fields as the server sent them."""
    return plan.model_dump(mode="json", exclude_unset=True)


def _result_state(result: Answer) -> dict[str, Any]:
    """The write's answer as the state keeps it (JSON), a failed one as the server sent it."""
    if isinstance(result, ToolCallError):
        return result.result()
    return result.model_dump(mode="json", exclude_unset=True)


def _code(result: Answer) -> str | None:
    return result.code if isinstance(result, ToolCallError) else None


def _message(result: Answer) -> str:
    return result.error.message if isinstance(result, ToolCallError) else ""


def _replayed_unwritten(result: Answer) -> bool:
    """The server replayed this key's recorded outcome, and it was: not written."""
    if not isinstance(result, ToolCallError) or result.code != "write_failed":
        return False
    details = result.error.model_extra or {}
    return details.get("replayed") is True and details.get("written") is False


async def _execute(
    context: IncidentContext,
    state: IncidentState,
    plan_id: str,
    approval_id: str | None,
    *,
    attempt: int | None = None,
) -> Answer:
    """Execute the server's plan. The idempotency key is the incident's and the plan's:
    a retry after a crash gets the recorded outcome instead of a second write. `attempt`
    makes a new key, for a new write after a recorded one that was not applied."""
    key = f"{state.get('incident_id')}:{plan_id}"
    if attempt is not None:
        key = f"{key[:110]}:retry-{attempt}"
    asked = time.perf_counter()
    async with context.write_slots:
        metrics.write_slot_wait_seconds.observe(time.perf_counter() - asked)
        try:
            return await context.toolbox.typed(
                AUTO_HEAL_POD,
                HealResult,
                namespace=state["namespace"],
                pod_name=state["pod_name"],
                plan_id=plan_id,
                approval_id=approval_id,
                idempotency_key=key[:128],
            )
        except ToolCallError as failed:
            return failed


def _acted(
    state: IncidentState,
    result: HealResult,
    action: str,
    approval_id: str | None,
    steps: list[TimelineEntry],
) -> dict[str, Any]:
    """The update after a write (or a read-only action) the server carried out."""
    taken = result.action_taken or action
    update: dict[str, Any] = {
        "action_id": result.action_id,
        "approval_id": None,
        "history": [
            *(state.get("history") or []),
            {
                "action": taken,
                "at": datetime.now(UTC).isoformat(),
                "namespace": state["namespace"],
                "workload": state.get("workload"),
                "outcome": Outcome.EXECUTED.value,
                "approval_id": approval_id,
                "action_id": result.action_id,
                "replayed": result.replayed,
            },
        ],
        "timeline": steps + timeline("act", "acted", f"{taken}: {result.reason or ''}"[:300]),
    }
    if parse_action(taken) not in WRITE_ACTIONS:
        # check_image_availability / investigate: a report for a human, nothing healed.
        update["outcome"] = "handed_to_human"
        update["summary"] = result.reason or taken
    return update


def _server_hand_over(failed: ToolCallError) -> dict[str, Any] | None:
    """The server's rules decided differently from our gate (a fresher look at the pod) and
    chose a hand-over: the incident ends that way."""
    if failed.code != "vetoed":
        return None
    details = failed.error.model_extra or {}
    server_action = parse_action(details.get("rule_action"))
    if server_action not in (Action.NONE, Action.INVESTIGATE_MANUALLY):
        return None
    assert server_action is not None
    reason = str(details.get("rule_reason") or failed.error.message)
    return {
        "outcome": "handed_to_human",
        "summary": f"the server's rules decided {server_action.value}: {reason}",
        "timeline": timeline("act", "server_decided", reason[:300]),
    }
