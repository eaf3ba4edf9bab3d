"""`kubemedic demo` leaves a /metrics endpoint: scrape it while the demo lingers, and check that
every metric the dashboard and the alert rules read is there, with real healing samples. Its
stderr, meanwhile, is the structured log: one JSON object a line, with the incident fields."""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from ...unit.observability.promql import SCRAPE_SERIES, references

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.slow  # the demo runs about a minute of wall time

_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "gauge": ("",),
}
_SERVING = re.compile(r"serving (http://\S+/metrics) for")


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    """(the demo's output so far, the /metrics text, its stderr) scraped while it lingers."""
    state = tmp_path_factory.mktemp("demo")
    stderr_path = tmp_path_factory.mktemp("demo-logs") / "stderr.log"
    env = {**os.environ, "KUBEMEDIC_LOG_FORMAT": "json", "KUBEMEDIC_LOG_LEVEL": "INFO"}
    stderr = stderr_path.open("w", encoding="utf-8")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kubemedic",
            "demo",
            "--yes",
            "--metrics-port",
            "0",
            "--linger",
            "120",
            "--state-dir",
            str(state),
        ],
        stdout=subprocess.PIPE,
        stderr=stderr,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
        env=env,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    output: list[str] = []
    try:
        url = None
        while url is None:
            # The demo gives up by itself after its own deadline (150 s by default).
            line = lines.get(timeout=240)
            if line is None:
                raise AssertionError("the demo ended without serving /metrics:\n" + "".join(output))
            output.append(line)
            match = _SERVING.search(line)
            url = match.group(1) if match else None
        response = httpx.get(url, timeout=10)
        assert response.status_code == 200
        yield "".join(output), response.text, stderr_path
    finally:
        process.terminate()  # it would linger two more minutes
        process.wait(timeout=30)
        reader.join(timeout=30)
        if process.stdout is not None:
            process.stdout.close()
        stderr.close()


def _wanted() -> set[str]:
    dashboard = json.loads(
        (ROOT / "dashboards" / "self-healing-dashboard.json").read_text(encoding="utf-8")
    )
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    rules = yaml.safe_load((ROOT / "k8s" / "prometheus" / "rules.yaml").read_text(encoding="utf-8"))
    exprs += [r["expr"] for g in rules["groups"] for r in g["rules"]]
    return set().union(*(references(e).metrics for e in exprs)) - set(SCRAPE_SERIES)


def test_every_metric_the_dashboard_and_alerts_read_is_exposed(
    scraped: tuple[str, str, Path],
) -> None:
    output, text, _ = scraped
    exposed: set[str] = set()
    for family in text_string_to_metric_families(text):
        exposed |= {family.name + s for s in _SUFFIXES.get(family.type, ("",))}
    wanted = _wanted()
    assert len(wanted) >= 20
    assert wanted - exposed == set(), output


def test_the_demo_left_real_healing_samples(scraped: tuple[str, str, Path]) -> None:
    output, text, _ = scraped
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
    names = {s.name for s in samples if s.value > 0}
    for name in (
        "healing_attempts_total",
        "healing_success_total",
        "healing_duration_seconds_count",
        "kubemedic_pods_monitored",
        "kubemedic_issues_detected_total",
        "kubemedic_incidents_total",
        "kubemedic_k8s_api_requests_total",
        "kubemedic_tool_calls_total",
    ):
        assert name in names, f"{name} has no sample above zero\n{output}"
    healed = [s for s in samples if s.name == "healing_success_total" and s.value > 0]
    assert all({"namespace", "pod", "action"} <= set(s.labels) for s in healed)


def test_stderr_is_json_lines_carrying_the_incident_fields(scraped: tuple[str, str, Path]) -> None:
    _, _, stderr_path = scraped
    lines = [line for line in stderr_path.read_text(encoding="utf-8").splitlines() if line]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert records, "the demo logged nothing at INFO"
    for record in records:
        assert {"ts", "level", "logger", "message"} <= set(record)
    with_incident = [r for r in records if "incident_id" in r]
    assert with_incident, "no log line carries an incident_id"
    assert all(r.get("thread_id") == r["incident_id"] for r in with_incident if "thread_id" in r)
    assert any("target" in r for r in with_incident)
