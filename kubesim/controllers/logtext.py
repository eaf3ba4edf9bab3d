"""Placeholders in simulated log lines, filled with the simulated time a line is written."""

from __future__ import annotations

from datetime import timedelta

from kubesim.controllers.base import Context

_PLACEHOLDERS = (
    "{time}",
    "{date}",
    "{nginxtime}",
    "{clftime}",
    "{redistime}",
    "{pgtime}",
    "{podnet}",
    "{podip}",
)


def render_line(line: str, ctx: Context, at: float, pod_ip: str) -> str:
    """Replace {time} (RFC 3339), {date} (date(1)), server-specific stamps and {podip}/{podnet}."""
    if "{" not in line or not any(p in line for p in _PLACEHOLDERS):
        return line
    moment = ctx.clock.now() + timedelta(seconds=at - ctx.clock.seconds())
    values = {
        "{time}": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
        "{date}": moment.strftime("%a %b %d %H:%M:%S UTC %Y"),
        "{nginxtime}": moment.strftime("%Y/%m/%d %H:%M:%S"),
        "{clftime}": moment.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "{redistime}": moment.strftime("%d %b %Y %H:%M:%S.") + f"{moment.microsecond // 1000:03d}",
        "{pgtime}": moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}",
        "{podnet}": pod_ip.rsplit(".", 1)[0] if pod_ip else "10.244.0",
        "{podip}": pod_ip or "10.244.0.2",
    }
    for key, value in values.items():
        line = line.replace(key, value)
    return line
