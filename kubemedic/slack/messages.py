"""Block Kit messages: an approval with its buttons, and its final form with the outcome.

Every string that comes from the cluster, the LLM or an approval record is escaped and bounded
(`kubemedic.slack.mrkdwn`). Pure functions of plain data: the event the agent sends
(`agent.notify`), the approval record and its change preview.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubemedic.slack.mrkdwn import FALLBACK_LIMIT, FIELD_LIMIT, code_block, plain, text
from mcp_server.approvals import Approval
from mcp_server.preview import ChangePreview, change_lines, evidence_facts, parse_preview

APPROVE = "kubemedic_approve"
REJECT = "kubemedic_reject"
ACTIONS_BLOCK = "kubemedic_approval"

Message = dict[str, Any]

_OUTCOME_ICONS = {
    "healed": ":white_check_mark:",
    "not_healed": ":x:",
    "handed_to_human": ":raising_hand:",
    "rejected": ":no_entry_sign:",
    "resolved": ":information_source:",
    "blocked": ":no_entry:",
}


def target_of(event: Mapping[str, Any], approval: Approval | None = None) -> str:
    """`Kind/namespace/name` of what the action writes."""
    if approval is not None:
        return approval.target
    target = event.get("target")
    if isinstance(target, Mapping):
        return "/".join(str(target.get(key, "")) for key in ("kind", "namespace", "name"))
    return str(target or event.get("workload") or "")


def action_of(event: Mapping[str, Any], approval: Approval | None = None) -> str:
    return approval.action if approval is not None else str(event.get("action") or "")


def approval_message(
    event: Mapping[str, Any], approval: Approval | None = None, *, with_buttons: bool = True
) -> Message:
    """The interactive message for one pending approval: what, where, why, the change preview
    (or action/target/reason when the approval has none), the LLM's rationale and veto, and
    Approve / Reject buttons whose value is the approval id."""
    approval_id = str(approval.id if approval is not None else event.get("approval_id") or "")
    action = action_of(event, approval)
    target = target_of(event, approval)
    headline = f"Approval needed: {action} on {target}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": plain(headline)}},
        _facts(event, approval, approval_id),
    ]
    preview = parse_preview((approval.details if approval is not None else {}).get("preview"))
    if preview is not None:
        blocks.extend(preview_blocks(preview))
    else:
        reason = approval.reason if approval is not None else event.get("reason")
        blocks.append(_section(f"*Why:* {text(reason or 'no reason given', 2900)}"))
    blocks.extend(_llm_blocks(event))
    if with_buttons and approval_id:
        blocks.append(_buttons(approval_id, action, target))
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": text(f"or: kubemedic approvals approve {approval_id} --by NAME", 500),
                }
            ],
        }
    )
    return {"text": plain(headline, FALLBACK_LIMIT), "blocks": blocks}


def preview_blocks(preview: ChangePreview) -> list[dict[str, Any]]:
    """The change (fields before → after, deletions), the dry run, the evidence, the rules."""
    blocks = [_section(f"*Change:* {text(preview.summary, 2900)}")]
    lines = change_lines(preview, arrow="→")
    if lines:
        blocks.append(_section(code_block(lines)))
    dry = ":white_check_mark:" if preview.dry_run.ok else ":warning:"
    blocks.append(_context(f"{dry} dry run: {text(preview.dry_run.message, 2800)}"))
    evidence = preview.evidence
    facts = evidence_facts(preview)
    quoted = [f"log: {line}" for line in evidence.log_lines]
    quoted += [f"event: {line}" for line in evidence.event_lines]
    if facts or quoted:
        blocks.append(_section(f"*Evidence:* {text(', '.join(facts) or '-', 1000)}"))
    if quoted:
        blocks.append(_section(code_block(quoted)))
    decision = preview.decision
    rule = (
        f"*Rule decision:* {text(decision.action, 100)} "
        f"(risk {text(decision.risk or 'unknown', 50)}): {text(decision.reason, 2000)}"
    )
    if decision.failed_checks:
        rule += "\n*Failed checks:* " + text("; ".join(decision.failed_checks), 700)
    blocks.append(_section(rule))
    return blocks


def final_message(
    event: Mapping[str, Any],
    approval: Approval | None,
    *,
    outcome: str | None = None,
    summary: str = "",
    approver: str | None = None,
) -> Message:
    """The message once decided: who granted or rejected it, and how the incident ended; no
    buttons. The approval record is the truth about the decision (whoever made it, wherever);
    without one, `approver` is who the incident says answered."""
    approval_id = str(approval.id if approval is not None else event.get("approval_id") or "")
    action = action_of(event, approval)
    target = target_of(event, approval)
    status = approval.status if approval is not None else "unknown"
    by = (approval.decided_by if approval is not None else None) or "someone"
    if status in ("granted", "consumed"):
        verdict = f":white_check_mark: *Granted* by {text(by, 200)}"
        title = f"Approved: {action} on {target}"
    elif status == "rejected":
        note = approval.note if approval is not None else None
        verdict = f":no_entry_sign: *Rejected* by {text(by, 200)}" + (
            f": {text(note, 1000)}" if note else ""
        )
        title = f"Rejected: {action} on {target}"
    elif status == "expired":
        note = (approval.note if approval is not None else None) or "nobody decided in time"
        verdict = f":hourglass: *Expired*: {text(note, 1000)}"
        title = f"Expired: {action} on {target}"
    elif status == "pending":
        verdict = ":hourglass_flowing_sand: still pending"
        title = f"Approval needed: {action} on {target}"
    elif approver:
        verdict = f"answered by {text(approver, 200)}"
        title = f"{action} on {target}"
    else:
        verdict = f"approval {text(approval_id, 64)} is no longer on record"
        title = f"{action} on {target}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": plain(title)}},
        _facts(event, approval, approval_id),
        _section(verdict),
    ]
    if outcome:
        icon = _OUTCOME_ICONS.get(outcome, ":x:")
        incident = event.get("incident_id") or ""
        line = f"{icon} *{text(outcome.replace('_', ' '), 50)}*"
        if incident:
            line += f" (incident {text(incident, 100)})"
        if summary:
            line += f": {text(summary, 2500)}"
        blocks.append(_section(line))
    elif status in ("granted", "consumed") and event.get("incident_id"):
        blocks.append(_context("the incident resumes; this message shows how it ends"))
    fallback = f"{title}: {outcome.replace('_', ' ')}" if outcome else title
    return {"text": plain(fallback, FALLBACK_LIMIT), "blocks": blocks}


def deciding_message(
    event: Mapping[str, Any], approval: Approval | None, by: str, decision: str
) -> Message:
    """The message the moment a person clicked: the buttons go, the decision is on its way."""
    message = approval_message(event, approval, with_buttons=False)
    verb = "approving" if decision == "approve" else "rejecting"
    message["blocks"].append(_section(f":hourglass_flowing_sand: {text(by, 200)} is {verb}…"))
    return message


def notice_message(event: Mapping[str, Any]) -> Message:
    """A one-way notice (an incident that closed without an approval message of ours)."""
    incident = event.get("incident_id", "")
    workload = event.get("workload") or target_of(event)
    outcome = str(event.get("outcome") or "")
    icon = _OUTCOME_ICONS.get(outcome, ":x:")
    headline = f"{icon} {text(incident, 100)} {text(workload, 300)}: {text(outcome, 50)}"
    blocks: list[dict[str, Any]] = [_section(headline)]
    detail = event.get("summary") or event.get("reason")
    if detail:
        blocks.append(_context(text(detail, 2900)))
    return {"text": plain(f"{incident} {workload}: {outcome}", FALLBACK_LIMIT), "blocks": blocks}


def ephemeral(message: str) -> Message:
    """An answer only the person who clicked sees; the original message stays."""
    return {
        "response_type": "ephemeral",
        "replace_original": False,
        "text": text(message, FALLBACK_LIMIT),
    }


def _facts(event: Mapping[str, Any], approval: Approval | None, approval_id: str) -> dict[str, Any]:
    fields = [
        ("Action", action_of(event, approval)),
        ("Target", target_of(event, approval)),
        ("Risk", (approval.risk if approval is not None else None) or event.get("risk") or "-"),
        ("Incident", event.get("incident_id") or "-"),
        ("Approval", approval_id or "-"),
    ]
    if event.get("workload"):
        fields.append(("Workload", event["workload"]))
    return {
        "type": "section",
        "fields": [
            {"type": "mrkdwn", "text": f"*{name}:*\n{text(value, FIELD_LIMIT - 40)}"}
            for name, value in fields
        ],
    }


def _llm_blocks(event: Mapping[str, Any]) -> list[dict[str, Any]]:
    blocks = []
    rationale = event.get("llm_rationale")
    if isinstance(rationale, Mapping) and rationale:
        head = "*LLM rationale*"
        proposed = rationale.get("proposed_action")
        if proposed:
            head += f" (proposes {text(proposed, 60)}"
            confidence = rationale.get("confidence")
            if isinstance(confidence, int | float):
                head += f", confidence {confidence:.2f}"
            head += ")"
        body = [str(rationale.get("summary") or "")]
        if rationale.get("suspected_cause"):
            body.append(f"Suspected cause: {rationale['suspected_cause']}")
        blocks.append(_section(f"{head}: {text(chr(10).join(b for b in body if b), 2800)}"))
    veto = event.get("veto")
    if isinstance(veto, Mapping) and veto:
        blocks.append(
            _section(
                f":no_entry: *LLM proposal vetoed by the rules:* "
                f"{text(veto.get('proposed_action') or '?', 60)}: "
                f"{text(veto.get('reason') or '', 2800)}"
            )
        )
    return blocks


def _buttons(approval_id: str, action: str, target: str) -> dict[str, Any]:
    return {
        "type": "actions",
        "block_id": ACTIONS_BLOCK,
        "elements": [
            {
                "type": "button",
                "action_id": APPROVE,
                "text": {"type": "plain_text", "text": "Approve"},
                "style": "primary",
                "value": approval_id,
                "confirm": {
                    "title": {"type": "plain_text", "text": "Approve this change?"},
                    "text": {"type": "mrkdwn", "text": text(f"{action} on {target}", 300)},
                    "confirm": {"type": "plain_text", "text": "Approve"},
                    "deny": {"type": "plain_text", "text": "Cancel"},
                },
            },
            {
                "type": "button",
                "action_id": REJECT,
                "text": {"type": "plain_text", "text": "Reject"},
                "style": "danger",
                "value": approval_id,
            },
        ],
    }


def _section(mrkdwn: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn}}


def _context(mrkdwn: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": mrkdwn}]}
