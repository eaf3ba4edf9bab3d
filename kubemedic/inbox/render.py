"""Server-rendered HTML for the inbox.

Everything that comes from the cluster (names, reasons, log and event lines, an LLM's text) is
untrusted: every value goes through `esc` (html.escape, quotes included) on its way into the
page. No inline script or style (the Content-Security-Policy forbids both); no secrets (a
token is never put back into a page, not even after a failed login).
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from kubemedic.inbox.auth import Identity
from kubemedic.inbox.board import Board, Row
from mcp_server.preview import ChangePreview


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _when(seconds: float | None) -> str:
    if not seconds:
        return ""
    moment = datetime.fromtimestamp(seconds, UTC)
    delta = time.time() - seconds
    ago = (
        f"{delta:.0f}s ago"
        if 0 <= delta < 120
        else f"{delta / 60:.0f}m ago"
        if 0 <= delta < 7200
        else ""
    )
    stamp = moment.strftime("%Y-%m-%d %H:%M:%SZ")
    return f'<time datetime="{esc(moment.isoformat())}">{esc(stamp)}</time>' + (
        f" ({esc(ago)})" if ago else ""
    )


def document(title: str, body: str, *, poll: bool = False) -> str:
    script = '<script src="/static/inbox.js" defer></script>' if poll else ""
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title>"
        '<link rel="stylesheet" href="/static/inbox.css">'
        f"{script}</head><body>{body}</body></html>"
    )


def login_page(csrf: str, *, error: str | None = None, header: str | None = None) -> str:
    notice = f'<p class="error" role="alert">{esc(error)}</p>' if error else ""
    proxy = (
        f'<p class="muted">Behind the sign-in proxy, the <code>{esc(header)}</code> header '
        "signs you in.</p>"
        if header
        else ""
    )
    body = (
        '<main class="login"><h1>kubemedic inbox</h1>'
        "<p>Sign in with a kubemedic token (scope <code>approve</code> to decide, "
        "<code>read</code> to view).</p>"
        f"{notice}"
        '<form method="post" action="/login" autocomplete="off">'
        f'<input type="hidden" name="csrf" value="{esc(csrf)}">'
        '<label for="token">Token</label>'
        '<input type="password" id="token" name="token" required autocomplete="off">'
        '<button type="submit" id="sign-in">Sign in</button></form>'
        f"{proxy}</main>"
    )
    return document("kubemedic inbox: sign in", body)


def message_page(title: str, text: str) -> str:
    body = (
        f'<main class="login"><h1>{esc(title)}</h1><p>{esc(text)}</p>'
        '<p><a href="/">back</a></p></main>'
    )
    return document(title, body)


def inbox_page(board: Board, identity: Identity, csrf: str, *, poll_ms: int = 3000) -> str:
    signout = (
        '<form method="post" action="/logout" class="inline">'
        f'<input type="hidden" name="csrf" value="{esc(csrf)}">'
        '<button type="submit" class="link">sign out</button></form>'
        if identity.via == "session"
        else ""
    )
    rights = "may approve" if identity.can_approve else "view only"
    body = (
        '<header><h1>kubemedic inbox</h1><div class="who">signed in as '
        f'<strong id="identity">{esc(identity.name)}</strong> '
        f'<span class="muted">({esc(rights)})</span> {signout}</div></header>'
        f'<main id="inbox" data-poll="/api/approvals" data-interval="{poll_ms}">'
        f"{fragment(board, identity, csrf)}</main>"
    )
    return document("kubemedic inbox", body, poll=True)


def fragment(board: Board, identity: Identity, csrf: str) -> str:
    parts = [f'<section class="pending"><h2>Pending ({len(board.pending)})</h2>']
    if not board.pending:
        parts.append('<p class="muted" id="nothing-pending">Nothing waits for a decision.</p>')
    parts.extend(card(row, identity, csrf) for row in board.pending)
    parts.append("</section>")
    if board.recent:
        parts.append('<section class="recent"><h2>Recent</h2>')
        parts.extend(card(row, identity, csrf) for row in board.recent)
        parts.append("</section>")
    return "".join(parts)


def card(row: Row, identity: Identity, csrf: str) -> str:
    approval = row.approval
    outcome = (
        f' <span class="outcome outcome-{esc(row.outcome)}">{esc(row.outcome)}</span>'
        if row.outcome
        else ""
    )
    head = (
        f'<h3><span class="action">{esc(approval.action)}</span> '
        f'<span class="target">{esc(approval.target)}</span></h3>'
        f'<p class="meta"><span class="status status-{esc(approval.status)}">'
        f"{esc(approval.status)}</span>{outcome} · risk {esc(approval.risk or 'unknown')} · "
        f"id <code>{esc(approval.id)}</code> · asked by {esc(approval.requested_by)} "
        f"{_when(approval.requested_at)}</p>"
    )
    parts = [
        f'<article class="approval" id="approval-{esc(approval.id)}" '
        f'data-status="{esc(approval.status)}" data-outcome="{esc(row.outcome or "")}">',
        head,
    ]
    if approval.status != "pending":
        parts.append(_decided(row))
    if row.preview is not None:
        parts.append(_preview(row.preview))
    else:
        parts.append(
            '<div class="change"><h4>Change</h4>'
            f"<p>{esc(approval.action)} on <code>{esc(approval.target)}</code></p>"
            f'<p class="reason">{esc(approval.reason)}</p></div>'
        )
    if row.incident is not None:
        parts.append(_incident(row))
    if row.job is not None:
        parts.append(_progress(row))
    if approval.status == "pending":
        parts.append(_actions(row, identity, csrf))
    parts.append("</article>")
    return "".join(parts)


def _decided(row: Row) -> str:
    approval = row.approval
    verb = {"granted": "approved", "consumed": "approved", "rejected": "rejected"}.get(
        approval.status, approval.status
    )
    who = (
        f"{esc(verb)} by <strong>{esc(approval.decided_by)}</strong> {_when(approval.decided_at)}"
        if approval.decided_by
        else esc(approval.status)
    )
    note = f' — <span class="note">{esc(approval.note)}</span>' if approval.note else ""
    used = " · the action ran" if approval.status == "consumed" else ""
    return f'<p class="decided">{who}{note}{esc(used)}</p>'


def _preview(preview: ChangePreview) -> str:
    rows = "".join(
        "<tr>"
        f'<td class="object">{esc(change.object)}</td>'
        f'<td class="path"><code>{esc(change.path)}</code></td>'
        f'<td class="before"><del>{esc(change.before if change.before is not None else "(unset)")}'
        "</del></td>"
        '<td class="arrow">→</td>'
        f'<td class="after"><ins>{esc(change.after if change.after is not None else "(removed)")}'
        "</ins></td></tr>"
        for change in preview.changes
    )
    table = (
        '<table class="diff"><thead><tr><th>object</th><th>field</th><th>before</th><th></th>'
        f"<th>after</th></tr></thead><tbody>{rows}</tbody></table>"
        if rows
        else ""
    )
    deletes = _list(
        "deletes",
        (
            f"delete <code>{esc(d.object)}</code>"
            + (f", recreated by {esc(d.replaced_by)}" if d.replaced_by else "")
            for d in preview.deletes
        ),
    )
    dry = preview.dry_run
    evidence = preview.evidence
    facts = [f"issue <strong>{esc(evidence.issue)}</strong>"] if evidence.issue else []
    if evidence.restarts is not None:
        facts.append(f"{esc(evidence.restarts)} restarts")
    if evidence.last_termination:
        facts.append(f"last termination {esc(evidence.last_termination)}")
    lines = [f"log: {line}" for line in evidence.log_lines] + [
        f"event: {line}" for line in evidence.event_lines
    ]
    decision = preview.decision
    failed = (
        _list("failed-checks", (esc(check) for check in decision.failed_checks))
        if decision.failed_checks
        else ""
    )
    return (
        '<div class="change"><h4>Change</h4>'
        f'<p class="summary">{esc(preview.summary)}</p>{table}{deletes}'
        f'<p class="dry-run dry-run-{"ok" if dry.ok else "failed"}">dry run: {esc(dry.message)}</p>'
        "</div>"
        '<div class="evidence"><h4>Evidence</h4>'
        f"<p>{', '.join(facts)}</p>"
        + (f"<pre>{esc(chr(10).join(lines))}</pre>" if lines else "")
        + "</div>"
        '<div class="rule"><h4>Rule decision</h4>'
        f"<p><strong>{esc(decision.action)}</strong> (risk {esc(decision.risk or 'unknown')}"
        f"{', needs approval' if decision.requires_approval else ''}): {esc(decision.reason)}</p>"
        f"{failed}</div>"
    )


def _list(css: str, items: Iterable[str]) -> str:
    entries = "".join(f"<li>{item}</li>" for item in items)
    return f'<ul class="{css}">{entries}</ul>' if entries else ""


def _incident(row: Row) -> str:
    payload = row.payload
    incident_id = (row.incident or {}).get("incident_id")
    parts = [f'<div class="incident"><h4>Incident <code>{esc(incident_id)}</code></h4>']
    if row.preview is None:
        rule = payload.get("rule_decision") or {}
        if rule:
            parts.append(
                f'<p class="rule">rule decision: <strong>{esc(rule.get("action"))}</strong> '
                f"(risk {esc(rule.get('estimated_risk') or 'unknown')}): "
                f"{esc(rule.get('reason'))}</p>"
            )
    rationale = payload.get("llm_rationale") or {}
    if rationale:
        confidence = rationale.get("confidence")
        shown = f"{float(confidence):.0%}" if isinstance(confidence, int | float) else "?"
        parts.append(
            '<div class="llm"><h5>LLM rationale</h5>'
            f"<p>{esc(rationale.get('summary'))}</p>"
            f"<p>suspected cause: {esc(rationale.get('suspected_cause'))}</p>"
            f"<p>proposed: <strong>{esc(rationale.get('proposed_action'))}</strong> "
            f"(confidence {esc(shown)})</p>"
            + _list("llm-evidence", (esc(e) for e in rationale.get("evidence") or []))
            + "</div>"
        )
    elif payload.get("llm_status"):
        parts.append(f'<p class="muted">LLM: {esc(payload.get("llm_status"))}</p>')
    veto = payload.get("veto")
    if veto:
        parts.append(
            '<p class="veto">vetoed LLM proposal: '
            f"<strong>{esc(veto.get('proposed_action'))}</strong> — {esc(veto.get('reason'))}</p>"
        )
    parts.append("</div>")
    return "".join(parts)


def _progress(row: Row) -> str:
    job = row.job
    assert job is not None
    verb = {"approve": "approved", "reject": "rejected", "edit": "edited"}[job.decision]
    state = {
        "running": "running…",
        "done": f"finished: {job.outcome or 'decided'}",
        "refused": "refused",
        "failed": "failed",
    }[job.state]
    message = f'<p class="message">{esc(job.message)}</p>' if job.message else ""
    lines = f"<pre>{esc(chr(10).join(job.lines))}</pre>" if job.lines else ""
    return (
        f'<div class="progress progress-{esc(job.state)}"><h4>Progress</h4>'
        f"<p>{esc(verb)} here by {esc(job.by)}: "
        f'<span class="job-state">{esc(state)}</span></p>{message}{lines}</div>'
    )


def _actions(row: Row, identity: Identity, csrf: str) -> str:
    approval_id = esc(row.approval.id)
    if row.job is not None and row.job.state == "running":
        return ""
    if not identity.can_approve:
        return '<p class="muted">Your token may view approvals but not decide them.</p>'
    hidden = f'<input type="hidden" name="csrf" value="{esc(csrf)}">'
    forms = [
        f'<form method="post" action="/approvals/{approval_id}/approve" class="inline">'
        f'{hidden}<button type="submit" class="approve">Approve</button></form>'
    ]
    for option in row.payload.get("edits") or []:
        action = str(option.get("action") or "")
        forms.append(
            f'<form method="post" action="/approvals/{approval_id}/edit" class="inline">'
            f'{hidden}<input type="hidden" name="action" value="{esc(action)}">'
            f'<button type="submit" class="milder" title="{esc(option.get("reason"))}">'
            f"Approve {esc(action)} instead</button></form>"
        )
    forms.append(
        f'<form method="post" action="/approvals/{approval_id}/reject" class="reject-form">'
        f'{hidden}<input type="text" name="reason" placeholder="reason" required maxlength="500" '
        f'aria-label="reason for rejecting">'
        '<button type="submit" class="reject">Reject</button></form>'
    )
    return f'<div class="actions">{"".join(forms)}</div>'
