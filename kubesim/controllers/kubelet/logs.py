"""A running container's log: the lines its behaviour prints, written at their own times."""

from __future__ import annotations

from kubesim.controllers.base import Context
from kubesim.controllers.logtext import render_line
from kubesim.controllers.runtime import ContainerRuntime, PodRuntime
from kubesim.store import Obj


def emit_logs(ctx: Context, pod: Obj, rt: PodRuntime, c: ContainerRuntime, until: float) -> None:
    """Append the lines the container printed since the last call, up to `until` (or its end)."""
    plan = c.run
    if plan is None:
        return
    until = min(until, plan.end_at)
    since, upto = c.log_cursor, until - plan.start
    if upto <= since:
        return
    ns, name = pod["metadata"].get("namespace", ""), pod["metadata"]["name"]
    for offset, line in plan.behaviour.lines_between(since, upto):
        at = plan.start + offset
        ctx.logs.append(ns, name, c.name, render_line(line, ctx, at, rt.pod_ip), at)
    c.log_cursor = upto


def emit_exit_lines(ctx: Context, pod: Obj, rt: PodRuntime, c: ContainerRuntime, t: float) -> None:
    """The last words of a process that failed (a stack trace, a fatal error)."""
    plan = c.run
    if plan is None or plan.exit_code == 0 or not plan.behaviour.exit_lines:
        return
    ns, name = pod["metadata"].get("namespace", ""), pod["metadata"]["name"]
    for line in plan.behaviour.exit_lines:
        ctx.logs.append(ns, name, c.name, render_line(line, ctx, t, rt.pod_ip), t)
