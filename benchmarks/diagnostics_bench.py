"""Diagnostics speed: full diagnoses per second over the recorded-shape fixtures, log analysis
and redaction throughput on ordinary logs, and the time taken by the worst inputs the bounds
allow (these must stay a few seconds at most: the bounds, not luck, keep them there).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from mcp_server.diagnostics.diagnose import build_diagnosis, classify_unhealthy
from mcp_server.diagnostics.logs import MAX_LINE_CHARS, MAX_LINES, analyze_log_text
from mcp_server.redaction import redact

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "k8s"
TARGET_DIAGNOSES_PER_SECOND = 100
TARGET_LOG_LINES_PER_SECOND = 5_000
WORST_CASE_SECONDS = 10.0


def _timed(fn: Callable[[], object], repeat: int = 1) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def _scenarios() -> list[dict[str, Any]]:
    nodes = yaml.safe_load((FIXTURES / "nodes.yaml").read_text())["nodes"]
    out = []
    for path in sorted(FIXTURES.glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        if "pod" in data:
            data["nodes"] = nodes
            out.append(data)
    return out


def _ordinary_log(lines: int) -> str:
    pattern = [
        "2026-11-24T16:05:{s:02d}.000000000Z INFO served GET /api/orders/{n} in 12ms status=200",
        '2026-11-24T16:05:{s:02d}.000000000Z {{"level":"info","msg":"cache hit","key":"o{n}"}}',
        "2026-11-24T16:05:{s:02d}.000000000Z WARN slow query took 812ms id={n}",
        "2026-11-24T16:05:{s:02d}.000000000Z ERROR upstream call failed: dial tcp 10.0.0.{s}:80: "
        "connect: connection refused",
    ]
    return "\n".join(pattern[n % 4].format(s=n % 60, n=n) for n in range(lines))


def main() -> int:
    failures = 0
    scenarios = _scenarios()

    def diagnose_all() -> None:
        for data in scenarios:
            build_diagnosis(
                data["pod"],
                events=data.get("events", []),
                logs_current=data.get("logs_current"),
                logs_previous=data.get("logs_previous"),
                nodes=data["nodes"],
            )

    per_pass = _timed(diagnose_all, repeat=20)
    rate = len(scenarios) / per_pass
    print(f"build_diagnosis: {rate:,.0f} diagnoses/s over {len(scenarios)} scenarios")
    failures += rate < TARGET_DIAGNOSES_PER_SECOND

    pods = [data["pod"] for data in scenarios] * 100
    seconds = _timed(lambda: [classify_unhealthy(p) for p in pods])
    print(f"classify_unhealthy: {len(pods) / seconds:,.0f} pods/s")

    text = _ordinary_log(10_000)
    seconds = _timed(lambda: analyze_log_text(text))
    lines_rate = 10_000 / seconds
    print(f"analyze_log_text: {lines_rate:,.0f} lines/s ({len(text) / seconds / 2**20:.1f} MiB/s)")
    failures += lines_rate < TARGET_LOG_LINES_PER_SECOND

    seconds = _timed(lambda: redact(text))
    print(f"redact (ordinary log): {len(text) / seconds / 2**20:.1f} MiB/s")

    worst = {
        "every gate, max lines": "\n".join(
            [
                "memory oom panic exception at x509 no such host permission not found timeout "
                "connection refused " + "z" * (MAX_LINE_CHARS - 110)
            ]
            * (MAX_LINES // 4)
        ),
        "one 20 MB line": "a" * 20_000_000,
        "stack frames": "panic: x\n" + "\n".join(["main.f(" + "(" * 2000] * MAX_LINES),
        "secret-shaped keys": "password=" * 200_000,
    }
    for name, sample in worst.items():
        run: Callable[[str], object] = redact if "secret" in name else analyze_log_text
        seconds = _timed(lambda: run(sample))  # noqa: B023 - called before the next iteration
        print(f"worst case {name!r}: {seconds:.2f} s")
        failures += seconds > WORST_CASE_SECONDS
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
