# ruff: noqa: E501  (log lines and kubelet messages are data, kept verbatim)
"""Crash loops caused by a liveness probe: the probe, not the process, is wrong."""

from __future__ import annotations

from typing import Any

from evals.tools.builders import (
    Container,
    http_probe,
)
from evals.tools.catalogue.common import (
    NEVER_FOR_CRASH,
    ScenarioFn,
    assemble,
    collector,
)
from evals.tools.kit import (
    CrashSpec,
    crash_workload,
)

SCENARIOS: list[ScenarioFn] = []
scenario = collector(SCENARIOS)


def _probe_crash(
    name: str,
    ns: str,
    probe: dict[str, Any],
    event_msg: str,
    logs: list[str],
    desc: str,
    exit_code: int = 137,
) -> dict[str, Any]:
    c = Container(
        "app",
        f"registry.example.com/{ns}/{name}:3.0.2",
        liveness=probe,
        readiness=http_probe("/ready"),
    )
    built, _ = crash_workload(
        CrashSpec(
            ns,
            name,
            c.image,
            restarts=6,
            exit_code=exit_code,
            container=c,
            previous_logs=logs,
            extra_events=[
                ("Unhealthy", event_msg, 18),
                ("Killing", "Container app failed liveness probe, will be restarted", 6),
            ],
        )
    )
    return assemble(
        f"crashloop-liveness-{name}",
        ["crashloop", "liveness", "config"],
        desc,
        built,
        {
            "issues": ["CrashLoopBackOff"],
            "action": "investigate_manually",
            "forbidden": NEVER_FOR_CRASH + ["rollback_deployment"],
            "outcome": "handed_to_human",
        },
        behaviour={"after_delete": "probe_failure", "log_lines": logs},
    )


@scenario
def crashloop_liveness_wrong_path() -> dict[str, Any]:
    return _probe_crash(
        "catalog",
        "shop",
        http_probe("/healthz", delay=15),
        "Liveness probe failed: HTTP probe failed with statuscode: 404",
        [
            '127.0.0.1 - - [14/Mar/2026:09:28:31 +0000] "GET /healthz HTTP/1.1" 404 19 "-" '
            '"kube-probe/1.28"',
            '127.0.0.1 - - [14/Mar/2026:09:28:41 +0000] "GET /healthz HTTP/1.1" 404 19 "-" '
            '"kube-probe/1.28"',
            "INFO shutting down on SIGTERM",
        ],
        """The liveness probe asks /healthz but the service answers health on /health: every pod
        is killed after three failed probes. A restart cannot fix a probe; a human must.""",
        exit_code=143,
    )


@scenario
def crashloop_liveness_slow_start() -> dict[str, Any]:
    return _probe_crash(
        "search",
        "search",
        http_probe("/actuator/health/liveness", delay=5, period=5, failures=2),
        'Liveness probe failed: Get "http://10.244.1.23:8080/actuator/health/liveness": dial tcp '
        "10.244.1.23:8080: connect: connection refused",
        [
            "2026-03-14 09:28:50.112  INFO 1 --- [main] c.e.search.SearchApplication : Starting "
            "SearchApplication v3.0.2 using Java 17.0.10",
            "2026-03-14 09:29:01.530  INFO 1 --- [main] o.h.e.t.j.p.i.JtaPlatformInitiator : HHH000490: "
            "Using JtaPlatform implementation",
            "2026-03-14 09:29:04.002  INFO 1 --- [ionShutdownHook] o.s.b.w.e.tomcat.GracefulShutdown : "
            "Commencing graceful shutdown. Waiting for active requests to complete",
        ],
        """A JVM service needs about 40 s to start but its liveness probe starts after 5 s and
        tolerates 2 failures: it is killed before it ever serves. A probe setting, not a restart,
        fixes it.""",
    )
