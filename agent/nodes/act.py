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
from agent.nodes.common import error_message, incident_log, notify, refused, timeline
from agent.state import IncidentState, TimelineEntry
from agent.tools import AUTO_HEAL_POD, PLAN_HEALING, error_code
from policies import WRITE_ACTIONS, Action, Outcome, parse_action

# Approvals that cannot be used as they are; the act node asks the server for a new one.
_APPROVAL_UNUSABLE = {"approval_not_granted", "approval_expired", "approval_not_found"}
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
    update: dict[str, Any] = {"attempts": attempts}
    steps: list[TimelineEntry] = []
    with incident_log(state):
        if plan.get("action") != action:
            # A human edited the action to a milder one: the server plans that one.
            plan = await _plan(context, state, action)
            if error_code(plan) is not None:
                return {**update, **refused("act", state, plan, action)}
            update["plan"] = plan
        result = await _execute(context, state, plan, approval_id)
        if error_code(result) == "plan_stale":
            # The pod or its workload moved on while we waited (e.g. for a human): a fresh
            # plan; a destructive one needs a fresh approval for what it now does.
            steps += timeline("act", "plan_stale", error_message(result)[:300])
            plan = await _plan(context, state, action)
            if error_code(plan) is not None:
                return {**update, **refused("act", state, plan, action), "action_result": result}
            update["plan"] = plan
            approval_id = None
            result = await _execute(context, state, plan, None)
        if _replayed_unwritten(result):
            # This incident's attempt before a restart never reached the cluster (the server
            # read it and recorded it not applied): one new attempt under a new key.
            steps += timeline("act", "not_applied_before", error_message(result)[:300])
            result = await _execute(context, state, plan, approval_id, attempt=attempts)
        unusable = error_code(result)
        if approval_id and unusable in _APPROVAL_UNUSABLE:
            # Resumed without a usable grant (expired, or answered somewhere that cannot
            # grant the server's record): ask again instead of giving up.
            steps += timeline("act", str(unusable), error_message(result)[:300])
            result = await _execute(context, state, plan, None)
    update["action_result"] = result
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
    result: Mapping[str, Any],
    action: str,
    approval_id: str | None,
    steps: list[TimelineEntry],
) -> dict[str, Any]:
    """The update from the server's last answer: acted, waiting for a human, or refused."""
    code = error_code(result)
    if code is None:
        return _acted(state, result, action, approval_id, steps)
    if code == "approval_required":
        payload = approval_payload(state, action, result.get("error") or {})
        await notify(context, {**payload, "kind": "approval"})
        return {
            "pending_approval": payload,
            "timeline": steps
            + timeline("act", "approval_required", f"{action} approval {payload['approval_id']}"),
        }
    ended = _server_hand_over(result) or refused("act", state, result, action)
    return {**ended, "timeline": steps + ended["timeline"]}


async def _plan(context: IncidentContext, state: IncidentState, action: str) -> dict[str, Any]:
    return await context.toolbox.call(
        PLAN_HEALING, namespace=state["namespace"], pod_name=state["pod_name"], action=action
    )


def _replayed_unwritten(result: Mapping[str, Any]) -> bool:
    """The server replayed this key's recorded outcome, and it was: not written."""
    error = result.get("error") or {}
    return (
        error_code(result) == "write_failed"
        and error.get("replayed") is True
        and error.get("written") is False
    )


async def _execute(
    context: IncidentContext,
    state: IncidentState,
    plan: Mapping[str, Any],
    approval_id: str | None,
    *,
    attempt: int | None = None,
) -> dict[str, Any]:
    """Execute the server's plan. The idempotency key is the incident's and the plan's:
    a retry after a crash gets the recorded outcome instead of a second write. `attempt`
    makes a new key, for a new write after a recorded one that was not applied."""
    plan_id = str(plan.get("plan_id") or "")
    key = f"{state.get('incident_id')}:{plan_id}"
    if attempt is not None:
        key = f"{key[:110]}:retry-{attempt}"
    asked = time.perf_counter()
    async with context.write_slots:
        metrics.write_slot_wait_seconds.observe(time.perf_counter() - asked)
        return await context.toolbox.call(
            AUTO_HEAL_POD,
            namespace=state["namespace"],
            pod_name=state["pod_name"],
            plan_id=plan_id,
            approval_id=approval_id,
            idempotency_key=key[:128],
        )


def _acted(
    state: IncidentState,
    result: Mapping[str, Any],
    action: str,
    approval_id: str | None,
    steps: list[TimelineEntry],
) -> dict[str, Any]:
    """The update after a write (or a read-only action) the server carried out."""
    taken = str(result.get("action_taken") or action)
    update: dict[str, Any] = {
        "action_id": result.get("action_id"),
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
                "action_id": result.get("action_id"),
                "replayed": bool(result.get("replayed")),
            },
        ],
        "timeline": steps + timeline("act", "acted", f"{taken}: {result.get('reason', '')}"[:300]),
    }
    if parse_action(taken) not in WRITE_ACTIONS:
        # check_image_availability / investigate: a report for a human, nothing healed.
        update["outcome"] = "handed_to_human"
        update["summary"] = str(result.get("reason") or taken)
    return update


def _server_hand_over(result: Mapping[str, Any]) -> dict[str, Any] | None:
    """The server's rules decided differently from our gate (a fresher look at the pod) and
    chose a hand-over: the incident ends that way."""
    error = result.get("error") or {}
    if error_code(result) != "vetoed" or not isinstance(error, Mapping):
        return None
    server_action = parse_action(error.get("rule_action"))
    if server_action not in (Action.NONE, Action.INVESTIGATE_MANUALLY):
        return None
    assert server_action is not None
    reason = str(error.get("rule_reason") or error.get("message", ""))
    return {
        "outcome": "handed_to_human",
        "summary": f"the server's rules decided {server_action.value}: {reason}",
        "timeline": timeline("act", "server_decided", reason[:300]),
    }
