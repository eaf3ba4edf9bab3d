"""`POST /slack/interactions`: a click on Approve or Reject, from Slack.

In order, and nothing is decided before all of it passed:
1. the request's timestamp is fresh (5 minutes) and its `v0` signature verifies with the
   signing secret (slack_sdk's `SignatureVerifier`) — else 401;
2. its signature was not seen before inside the window (durable across restarts) — else 409;
3. the Slack user is on the approver allow-list (and the workspace is ours, when set) — else
   403 (and the person is told why);
4. the approval exists and is pending — else 200 and an explanation only that person sees.

Then the answer is a 200 at once (Slack wants one within 3 seconds): the buttons are replaced
by "X is approving…" through the interaction's `response_url`, and the decision
(`approval_flow.decide`, by "<approver> via Slack", which resumes the waiting incident) runs
after the answer. The message then shows who decided and, once the incident ends, how.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from slack_sdk.signature import Clock, SignatureVerifier
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kubemedic.slack.client import respond
from kubemedic.slack.messages import APPROVE, REJECT, deciding_message, ephemeral
from kubemedic.slack.notifier import SlackMessenger
from kubemedic.slack.settings import SlackSettings

if TYPE_CHECKING:
    from kubemedic.agent_runtime import Remote
    from kubemedic.settings import Settings

log = logging.getLogger(__name__)

FRESH_SECONDS = 300  # Slack's window for a request's timestamp
MAX_BODY_BYTES = 64 * 1024
_APPROVAL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True, slots=True)
class Click:
    """One button click, parsed from a `block_actions` payload."""

    user_id: str
    team_id: str
    decision: str  # "approve" | "reject"
    approval_id: str
    response_url: str


class _Clock(Clock):
    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now

    def now(self) -> float:
        return self._now()


def slack_routes(
    settings: Settings,
    slack: SlackSettings | None = None,
    *,
    remote: Remote | None = None,
    clock: Callable[[], float] = time.time,
) -> list[Route]:
    """The interactions route, for the web inbox (or any Starlette app) to mount. `remote`:
    the MCP server a resumed incident acts through (None: one in this process)."""
    slack = slack if slack is not None else SlackSettings()
    secret = slack.secret()
    if not secret:
        raise ValueError("the Slack interactions endpoint needs KUBEMEDIC_SLACK_SIGNING_SECRET")
    verifier = SignatureVerifier(secret, clock=_Clock(clock))
    approvers = slack.approver_names()
    messenger = SlackMessenger.of(settings, slack)

    async def interactions(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return _refuse(413, "request too large")
        timestamp = request.headers.get("x-slack-request-timestamp", "")
        signature = request.headers.get("x-slack-signature", "")
        if not timestamp.isascii() or not timestamp.isdigit() or not signature:
            return _refuse(401, "missing or malformed Slack signature headers")
        if abs(clock() - int(timestamp)) > FRESH_SECONDS:
            return _refuse(401, "stale request timestamp")
        if not verifier.is_valid(body=body, timestamp=timestamp, signature=signature):
            return _refuse(401, "bad signature")
        # A signature passes the freshness check for up to twice the window after it is
        # first seen (its timestamp may lie ahead of our clock by the window).
        if not messenger.store.first_sight(signature, 2 * FRESH_SECONDS):
            return _refuse(409, "replayed request")
        click = parse_click(body)
        if click is None:
            return Response(status_code=200)  # not a click of ours: acknowledged, ignored
        approver = approvers.get(click.user_id)
        if slack.team_id and click.team_id != slack.team_id:
            approver = None
        if approver is None:
            log.warning("Slack click by a user not on the approver list", extra=_log(click))
            told = ephemeral("You are not on kubemedic's approver list; nothing was decided.")
            return _refuse(403, "not an approver", _tell(click.response_url, told))
        approval = messenger.approval(click.approval_id)
        if approval is None or approval.status != "pending":
            state = "no longer on record" if approval is None else f"already {approval.status}"
            by = f" by {approval.decided_by}" if approval and approval.decided_by else ""
            told = ephemeral(f"Approval {click.approval_id} is {state}{by}; nothing was changed.")
            return Response(status_code=200, background=_tell(click.response_url, told))
        by = f"{approver} via Slack"
        log.info("Slack decision", extra={**_log(click), "approver": by})
        posted = messenger.store.message(click.approval_id)
        event = posted.event if posted is not None else {"approval_id": click.approval_id}
        deciding = {
            **deciding_message(event, approval, by, click.decision),
            "replace_original": True,
        }

        async def decide_later() -> None:
            await respond(click.response_url, deciding)
            await _decide(settings, messenger, click, by, remote)

        return Response(status_code=200, background=BackgroundTask(decide_later))

    return [Route("/slack/interactions", interactions, methods=["POST"])]


def parse_click(body: bytes) -> Click | None:
    """The Approve/Reject click in a form-encoded `payload`; None for anything else."""
    try:
        form = parse_qs(body.decode("utf-8"), max_num_fields=20)
        payload = json.loads(form.get("payload", [""])[0])
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return None
    user = payload.get("user") or {}
    team = payload.get("team") or {}
    for action in payload.get("actions") or []:
        if not isinstance(action, dict):
            continue
        kind = {APPROVE: "approve", REJECT: "reject"}.get(str(action.get("action_id")))
        value = str(action.get("value") or "")
        if kind is not None and _APPROVAL_ID.match(value):
            return Click(
                user_id=str(user.get("id") or "") if isinstance(user, dict) else "",
                team_id=str(team.get("id") or "") if isinstance(team, dict) else "",
                decision=kind,
                approval_id=value,
                response_url=str(payload.get("response_url") or ""),
            )
    return None


async def _decide(
    settings: Settings, messenger: SlackMessenger, click: Click, by: str, remote: Remote | None
) -> None:
    """Decide (and resume the waiting incident), then show how it went. Never raises."""
    from kubemedic.approval_flow import DecisionRefused, decide

    try:
        result = await decide(
            settings,
            click.approval_id,
            by,
            "approve" if click.decision == "approve" else "reject",
            reason=f"rejected in Slack by {by.removesuffix(' via Slack')}",
            resume=True,
            remote=remote,
        )
    except DecisionRefused as refused:
        await respond(click.response_url, ephemeral(f"Nothing was decided: {refused.message}"))
        await messenger.refresh(click.approval_id, click.response_url)
        return
    except Exception:  # noqa: BLE001 - the click was answered; say so in the message
        log.exception("Slack decision failed", extra=_log(click))
        await respond(click.response_url, ephemeral("The decision failed; see kubemedic's log."))
        await messenger.refresh(click.approval_id, click.response_url)
        return
    posted = messenger.store.message(click.approval_id)
    if result.incident_id and result.outcome and (posted is None or posted.outcome is None):
        # The resumed incident's own report usually told the notifier already; if not (no
        # bot configured for it), its outcome is shown from here.
        messenger.store.record_outcome(
            result.incident_id, result.outcome, result.lines[-1] if result.lines else ""
        )
    await messenger.refresh(click.approval_id, click.response_url)


def _tell(response_url: str, message: dict[str, Any]) -> BackgroundTask:
    return BackgroundTask(respond, response_url, message)


def _refuse(status: int, reason: str, background: BackgroundTask | None = None) -> Response:
    return JSONResponse({"ok": False, "error": reason}, status_code=status, background=background)


def _log(click: Click) -> dict[str, Any]:
    return {
        "slack_user": click.user_id,
        "approval_id": click.approval_id,
        "decision": click.decision,
    }
