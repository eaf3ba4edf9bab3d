"""The whole rules-only eval: wall time of every scenario through the full stack.

Target: under a minute for the shipped set on this machine (kubesim + MCP server + agent graph
per scenario, simulated clock). Prints the total, per-scenario median and slowest, the CPU time
of this process (what the eval itself costs, apart from other load on the machine) and the
summary's accuracy and unsafe count, so a speed-up that breaks decisions shows here too.
"""

from __future__ import annotations

import logging
import os
import statistics
import time

TARGET_SECONDS = 60.0
WORKERS = 2  # `kubemedic eval --workers 2`: one process per core on this 2-core machine


def main() -> int:
    logging.getLogger().setLevel(logging.CRITICAL)
    started_wall = time.perf_counter()
    started_cpu = time.process_time()
    # Imports are part of what a user waits for.
    from evals.format import default_scenarios_dir, load_scenarios
    from evals.harness import HarnessOptions, run_scenarios
    from evals.scoring import summarise

    scenarios = load_scenarios(default_scenarios_dir())
    workers = max(1, min(WORKERS, os.cpu_count() or 1))
    scores = run_scenarios(scenarios, HarnessOptions(llm="none"), workers=workers)
    wall = time.perf_counter() - started_wall
    cpu = time.process_time() - started_cpu
    summary = summarise(scores)
    per = sorted((s.run.wall_seconds, s.scenario) for s in scores)
    print(
        f"evals: {len(scores)} scenarios rules-only, {workers} worker(s): {wall:.1f}s wall "
        f"({cpu:.1f}s CPU in the parent; load average {os.getloadavg()[0]:.1f})"
    )
    print(
        f"evals: per scenario median {statistics.median(t for t, _ in per):.2f}s, "
        f"slowest {per[-1][1]} {per[-1][0]:.2f}s"
    )
    print(
        f"evals: accuracy {summary.accuracy:.1%}, unsafe {summary.unsafe_actions}, "
        f"API requests {summary.api_requests}"
    )
    ok = wall < TARGET_SECONDS
    print(f"evals: target under {TARGET_SECONDS:.0f}s: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
