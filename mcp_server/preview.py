"""What an approval shows a human: the exact change, the evidence and the rule decision.

The server computes a preview when it asks for an approval (the change itself comes from the
API server's `dryRun=All` answer) and keeps it in the approval record's details under
`preview`, so every place that shows an approval (the terminal, the web inbox, Slack, an MCP
host's elicitation) shows the same thing. Values in here are redacted before they are stored:
log and event lines come from the cluster and are untrusted text.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class FieldChange(_Model):
    """One field of one object, before and after the change."""

    object: str  # e.g. "Deployment/default/web"
    path: str  # e.g. "spec.template.spec.containers[web].resources.limits.memory"
    before: str | None = None  # None: the field is added
    after: str | None = None  # None: the field is removed


class Deletion(_Model):
    """An object the change deletes, and what recreates it."""

    object: str  # e.g. "Pod/default/web-7d4b9-abcde"
    replaced_by: str | None = None  # e.g. "ReplicaSet/default/web-7d4b9 of Deployment/default/web"


class DryRun(_Model):
    ok: bool
    message: str


class Evidence(_Model):
    issue: str = ""
    restarts: int | None = None
    last_termination: str | None = None
    log_lines: list[str] = Field(default_factory=list)
    event_lines: list[str] = Field(default_factory=list)


class RuleDecision(_Model):
    action: str
    reason: str = ""
    risk: str = ""
    requires_approval: bool = True
    failed_checks: list[str] = Field(default_factory=list)


class ChangePreview(_Model):
    summary: str
    dry_run: DryRun
    changes: list[FieldChange] = Field(default_factory=list)
    deletes: list[Deletion] = Field(default_factory=list)
    evidence: Evidence = Field(default_factory=Evidence)
    decision: RuleDecision


def parse_preview(raw: Any) -> ChangePreview | None:
    """The preview stored in an approval's details, or None when there is none (an approval
    asked for before previews existed, or a record that does not parse)."""
    if not isinstance(raw, dict):
        return None
    try:
        return ChangePreview.model_validate(raw)
    except ValueError:
        return None


def change_lines(preview: ChangePreview, arrow: str = "->") -> list[str]:
    """One line per changed field (`object path: before -> after`) and per deletion."""
    lines = []
    for change in preview.changes:
        before = change.before if change.before is not None else "(unset)"
        after = change.after if change.after is not None else "(removed)"
        lines.append(f"{change.object} {change.path}: {before} {arrow} {after}")
    for deletion in preview.deletes:
        tail = f", recreated by {deletion.replaced_by}" if deletion.replaced_by else ""
        lines.append(f"delete {deletion.object}{tail}")
    return lines


def evidence_facts(preview: ChangePreview) -> list[str]:
    """The evidence's facts in words: the issue, restarts, the last termination."""
    evidence = preview.evidence
    facts = [f"issue {evidence.issue}"] if evidence.issue else []
    if evidence.restarts is not None:
        facts.append(f"{evidence.restarts} restarts")
    if evidence.last_termination:
        facts.append(f"last termination {evidence.last_termination}")
    return facts


def preview_lines(preview: ChangePreview) -> list[str]:
    """The preview as plain text lines, for terminals, chat messages and elicitation prompts."""
    lines = [preview.summary, *(f"  {line}" for line in change_lines(preview))]
    lines.append(f"dry run: {preview.dry_run.message}")
    evidence = preview.evidence
    facts = evidence_facts(preview)
    if facts:
        lines.append("evidence: " + ", ".join(facts))
    lines.extend(f"  log: {line}" for line in evidence.log_lines)
    lines.extend(f"  event: {line}" for line in evidence.event_lines)
    decision = preview.decision
    lines.append(
        f"rule decision: {decision.action} (risk {decision.risk or 'unknown'}): {decision.reason}"
    )
    if decision.failed_checks:
        lines.append("failed checks: " + "; ".join(decision.failed_checks))
    return lines
