"""Alert rules: promtool accepts and unit-tests them, each alert is tested firing and not firing,
has a runbook, reads only exported metrics, and the PrometheusRule embeds exactly these rules."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import agent.metrics  # noqa: F401  (registers the agent's series)
import mcp_server.metrics  # noqa: F401  (registers the server's series)

from .promql import exported_series, problems

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "k8s" / "prometheus" / "rules.yaml"
TESTS = sorted((ROOT / "k8s" / "prometheus" / "tests").glob("*.yaml"))
PROMETHEUSRULE = ROOT / "k8s" / "prometheusrule.yaml"
GENERATOR = ROOT / "tools" / "gen_prometheusrule.py"
RUNBOOK_BASE = "https://github.com/kubemedic/kubemedic/blob/main/"


def _promtool() -> str:
    path = shutil.which("promtool")
    # Fail, not skip: .ci/run installs Debian's `prometheus` package, which ships promtool.
    assert path, "promtool is missing: apt-get install -y prometheus"
    return path


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120)


def _rules(path: Path = RULES) -> list[dict[str, Any]]:
    groups = yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _alerts() -> list[str]:
    return [r["alert"] for r in _rules() if "alert" in r]


def test_promtool_check_rules() -> None:
    result = _run(_promtool(), "check", "rules", RULES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_test_rules() -> None:
    assert TESTS, "no promtool unit tests in k8s/prometheus/tests/"
    result = _run(_promtool(), "test", "rules", *TESTS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_catches_a_wrong_expectation(tmp_path: Path) -> None:
    """The unit tests can fail: an expected alert that does not fire is reported."""
    bogus = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": 'up{job="kubemedic"}', "values": "1x20"}],
                "alert_rule_test": [
                    {
                        "eval_time": "15m",
                        "alertname": "KubemedicDown",
                        "exp_alerts": [{"exp_labels": {"severity": "critical"}}],
                    }
                ],
            }
        ],
    }
    path = tmp_path / "bogus.yaml"
    path.write_text(yaml.safe_dump(bogus), encoding="utf-8")
    result = _run(_promtool(), "test", "rules", path)
    assert result.returncode != 0
    assert "KubemedicDown" in result.stdout + result.stderr


def _cases() -> dict[str, dict[str, int]]:
    """alertname -> how many evaluations expect it firing / not firing."""
    seen: dict[str, dict[str, int]] = {}
    for path in TESTS:
        for test in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            for case in test.get("alert_rule_test", []):
                kind = "firing" if case.get("exp_alerts") else "not_firing"
                seen.setdefault(case["alertname"], {"firing": 0, "not_firing": 0})[kind] += 1
    return seen


def test_the_required_alerts_exist() -> None:
    alerts = set(_alerts())
    assert {
        "KubemedicHealingFailureRateHigh",
        "KubemedicPodUnhealthyNotHealed",
        "KubemedicApprovalPendingTooLong",
        "KubemedicRateLimitExhausted",
        "KubemedicDown",
        "KubemedicAbsent",
        "KubemedicLLMVetoesSpiking",
    } <= alerts


@pytest.mark.parametrize("alert", _alerts())
def test_each_alert_is_tested_firing_and_not_firing(alert: str) -> None:
    cases = _cases().get(alert, {"firing": 0, "not_firing": 0})
    assert cases["firing"] >= 1, f"{alert}: no promtool case where it fires"
    assert cases["not_firing"] >= 1, f"{alert}: no promtool case where it stays quiet"


@pytest.mark.parametrize("rule", [r for r in _rules() if "alert" in r], ids=lambda r: r["alert"])
def test_each_alert_has_severity_summary_and_a_runbook(rule: dict[str, Any]) -> None:
    assert rule["labels"]["severity"] in {"critical", "warning", "info"}
    annotations = rule["annotations"]
    assert annotations["summary"] and annotations["description"]
    url = annotations["runbook_url"]
    assert url == f"{RUNBOOK_BASE}docs/runbooks/{rule['alert']}.md"
    runbook = ROOT / "docs" / "runbooks" / f"{rule['alert']}.md"
    assert runbook.is_file(), f"missing {runbook.relative_to(ROOT)}"
    text = runbook.read_text(encoding="utf-8")
    assert text.startswith(f"# {rule['alert']}\n")
    for section in ("## Meaning", "## Impact", "## Diagnosis", "## Remediation"):
        assert section in text, f"{runbook.name} lacks {section}"


def test_every_runbook_belongs_to_an_alert() -> None:
    runbooks = {p.stem for p in (ROOT / "docs" / "runbooks").glob("*.md")}
    assert runbooks == set(_alerts())


def test_rules_read_only_exported_metrics() -> None:
    exported = exported_series()
    report = [f"{r['alert']}: {p}" for r in _rules() for p in problems(r["expr"], exported)]
    assert report == []


def test_prometheusrule_is_generated_from_the_rules_file() -> None:
    result = _run(sys.executable, GENERATOR, "--check")
    assert result.returncode == 0, result.stdout + result.stderr
    crd = yaml.safe_load(PROMETHEUSRULE.read_text(encoding="utf-8"))
    plain = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    assert crd["spec"] == plain


def test_prometheusrule_has_the_operator_shape(tmp_path: Path) -> None:
    crd = yaml.safe_load(PROMETHEUSRULE.read_text(encoding="utf-8"))
    assert crd["apiVersion"] == "monitoring.coreos.com/v1"
    assert crd["kind"] == "PrometheusRule"
    assert crd["metadata"]["name"] and crd["metadata"]["namespace"] == "kubemedic"
    assert set(crd) == {"apiVersion", "kind", "metadata", "spec"}
    assert set(crd["spec"]) == {"groups"}
    names = [g["name"] for g in crd["spec"]["groups"]]
    assert len(names) == len(set(names))
    for group in crd["spec"]["groups"]:
        assert set(group) <= {"name", "interval", "rules", "partial_response_strategy", "limit"}
        for rule in group["rules"]:
            assert ("alert" in rule) != ("record" in rule)
            assert isinstance(rule["expr"], str)
            assert set(rule) <= {
                "alert",
                "record",
                "expr",
                "for",
                "keep_firing_for",
                "labels",
                "annotations",
            }
    # What the operator hands Prometheus must pass promtool too.
    embedded = tmp_path / "embedded.yaml"
    embedded.write_text(yaml.safe_dump(crd["spec"]), encoding="utf-8")
    result = _run(_promtool(), "check", "rules", embedded)
    assert result.returncode == 0, result.stdout + result.stderr


def test_generator_rejects_a_file_that_is_not_a_rules_file() -> None:
    sys.path.insert(0, str(GENERATOR.parent))
    try:
        import gen_prometheusrule
    finally:
        sys.path.remove(str(GENERATOR.parent))
    with pytest.raises(ValueError):
        gen_prometheusrule.render("rules: []\n")
    rendered = gen_prometheusrule.render("groups:\n  - name: g\n    rules: []\n")
    assert yaml.safe_load(rendered)["spec"] == {"groups": [{"name": "g", "rules": []}]}
