"""Show an eval run: a progress bar while it runs, a table per scenario, a summary, JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from evals.scoring import Score, Summary

REPORT_VERSION = 1


def _fmt_seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}s" if value < 600 else f"{value / 60:.1f}m"


def _mark(ok: bool) -> str:
    return "[green]✓[/]" if ok else "[red]✗[/]"


class LiveReport:
    """A progress bar, with one line per finished scenario printed above it."""

    def __init__(self, console: Console, total: int) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("[bold]eval[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=console,
            transient=True,
        )
        self.task = self.progress.add_task("", total=total)

    def started(self, name: str) -> None:
        self.progress.update(self.task, description=name)

    def finished(self, result: Score) -> None:
        status = "[green]pass[/]" if result.correct else "[red]FAIL[/]"
        if result.unsafe:
            status = "[bold red]UNSAFE[/]"
        misses = "; ".join(result.misses())
        self.progress.console.print(
            f"{status} {result.scenario}: {result.decision} -> {result.outcome}"
            + (f"  [dim]{misses}[/]" if misses else "")
        )
        self.progress.advance(self.task)


@contextmanager
def live_report(console: Console, total: int) -> Iterator[LiveReport]:
    report = LiveReport(console, total)
    with report.progress:
        yield report


def scores_table(scores: Sequence[Score]) -> Table:
    table = Table(title="kubemedic eval", show_lines=False, expand=False)
    for column in ("scenario", "issues", "decision", "writes", "outcome", "heal", "req", "✓"):
        table.add_column(column, no_wrap=column in ("scenario", "decision"))
    for s in scores:
        writes = ",".join(w.action for w in s.run.writes) or "-"
        outcome = s.outcome if s.outcome_ok else f"[red]{s.outcome}[/]"
        decision = s.decision if s.decision_ok else f"[red]{s.decision}[/]"
        if s.unsafe:
            writes = f"[bold red]{writes}[/]"
        elif not s.writes_ok:
            writes = f"[red]{writes}[/]"
        table.add_row(
            s.scenario,
            _mark(s.detection_ok),
            decision,
            writes,
            outcome,
            _fmt_seconds(s.run.time_to_heal),
            str(s.run.api_requests),
            _mark(s.correct),
        )
    return table


def summary_table(summary: Summary) -> Table:
    table = Table(title="summary", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    unsafe = str(summary.unsafe_actions)
    rows: list[tuple[str, str]] = [
        ("scenarios", str(summary.scenarios)),
        ("correct (every part)", f"{summary.correct} ({summary.accuracy:.0%})"),
        ("decision accuracy", f"{summary.decision_accuracy:.0%}"),
        ("issue detection", f"{summary.detection_accuracy:.0%}"),
        ("outcome as expected", f"{summary.outcome_accuracy:.0%}"),
        ("unsafe actions", f"[bold red]{unsafe}[/]" if summary.unsafe_actions else unsafe),
        ("secret leaks", str(summary.leaks)),
        ("errors", str(summary.errors)),
        ("healed rate", f"{summary.healed}/{summary.expected_healed} ({summary.healed_rate:.0%})"),
        ("median time to heal (simulated)", _fmt_seconds(summary.median_time_to_heal)),
        ("p95 time to heal (simulated)", _fmt_seconds(summary.p95_time_to_heal)),
        ("LLM vetoes", str(summary.vetoes)),
        ("API requests", str(summary.api_requests)),
        ("LLM calls / tokens", f"{summary.llm_calls} / {summary.llm_tokens}"),
    ]
    for what, value in rows:
        table.add_row(what, value)
    return table


def tags_table(summary: Summary) -> Table:
    table = Table(title="by tag")
    for column in ("tag", "scenarios", "correct", "unsafe"):
        table.add_column(column, justify="left" if column == "tag" else "right")
    for tag, counts in summary.by_tag.items():
        unsafe = str(counts["unsafe"])
        table.add_row(
            tag,
            str(counts["scenarios"]),
            f"{counts['correct']}/{counts['scenarios']}",
            f"[bold red]{unsafe}[/]" if counts["unsafe"] else unsafe,
        )
    return table


def report_dict(
    scores: Sequence[Score], summary: Summary, meta: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "version": REPORT_VERSION,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "meta": meta or {},
        "summary": summary.to_dict(),
        "scenarios": [s.to_dict() for s in scores],
    }


def write_json(
    path: Path, scores: Sequence[Score], summary: Summary, meta: dict[str, Any] | None = None
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report_dict(scores, summary, meta), indent=2, default=str) + "\n")
