from __future__ import annotations

import copy
from typing import Any

from mcp_server.diagnostics.config import (
    ConfigExistence,
    config_findings,
    limit_range_max_memory,
    probe_findings,
    references,
)
from policies.diagnosis import IssueType

from .conftest import load


def _existence(data: dict[str, Any]) -> ConfigExistence:
    e = data["existing"]
    return ConfigExistence.of(e["configmaps"], e["secrets"], e["pvcs"])


def test_references_cover_env_envfrom_and_volumes() -> None:
    pod = load("createcontainerconfigerror")["pod"]
    refs = {(r.kind, r.name, r.optional) for r in references(pod)}
    assert refs == {
        ("Secret", "orders-db", False),
        ("ConfigMap", "orders-flags", True),
        ("ConfigMap", "orders-config", False),
        ("Secret", "orders-tls", False),
    }


def test_missing_secret_is_reported_once_and_optional_ones_are_not() -> None:
    data = load("createcontainerconfigerror")
    found = config_findings(data["pod"], _existence(data))
    missing = [i for i in found.issues if i.type == IssueType.MISSING_CONFIG_REF]
    assert len(missing) == 1
    assert missing[0].severity == "critical"
    assert missing[0].container == "orders"
    assert 'Secret "orders-db"' in missing[0].message
    assert any("ghcr-pull" in r for r in found.recommendations)


def test_unknown_existence_reports_nothing_missing() -> None:
    data = load("createcontainerconfigerror")
    found = config_findings(data["pod"], None)
    assert not [i for i in found.issues if i.type == IssueType.MISSING_CONFIG_REF]
    partial = ConfigExistence.of(configmaps=["orders-config"])  # secrets not listed
    assert not [
        i
        for i in config_findings(data["pod"], partial).issues
        if i.type == IssueType.MISSING_CONFIG_REF
    ]


def test_missing_pvc() -> None:
    pod = load("pending-unbound-pvc")["pod"]
    found = config_findings(pod, ConfigExistence.of(pvcs=[]))
    assert [i.message for i in found.issues if i.type == IssueType.MISSING_CONFIG_REF] == [
        'PersistentVolumeClaim "batch-data" (used by volume data) does not exist'
    ]


def test_no_memory_limit_is_advisory_and_no_cpu_limit_alone_is_fine() -> None:
    pod = load("createcontainerconfigerror")["pod"]  # memory limit only
    assert not [i for i in config_findings(pod).issues if i.type == IssueType.NO_RESOURCE_LIMITS]
    del pod["spec"]["containers"][0]["resources"]["limits"]
    [issue] = [i for i in config_findings(pod).issues if i.type == IssueType.NO_RESOURCE_LIMITS]
    assert issue.severity == "info"
    assert issue.message == "container orders has no memory or cpu limit"


def test_probe_mistakes_on_a_failing_container() -> None:
    pod = load("liveness-failing")["pod"]
    found = probe_findings(pod)
    messages = [i.message for i in found.issues]
    assert all(i.type == IssueType.PROBE_MISCONFIGURED for i in found.issues)
    assert (
        "liveness probe of container billing checks port 8081, but the container "
        "exposes only 8080" in messages
    )
    assert any("initialDelaySeconds 0" in m for m in messages)
    assert any("same check with aggressive timings" in r for r in found.recommendations)


def test_probe_concerns_on_a_healthy_container_are_only_advice() -> None:
    pod = load("liveness-failing")["pod"]
    cs = pod["status"]["containerStatuses"][0]
    cs.update(ready=True, restartCount=0)
    found = probe_findings(pod)
    assert found.issues == []
    assert any("checks port 8081" in r for r in found.recommendations)


def test_named_probe_port_must_exist() -> None:
    pod = load("healthy-noisy")["pod"]
    assert probe_findings(pod).issues == []  # port "http" is declared
    broken = copy.deepcopy(pod)
    broken["spec"]["containers"][0]["livenessProbe"]["httpGet"]["port"] = "metrics"
    broken["status"]["containerStatuses"][0]["restartCount"] = 4
    [issue] = probe_findings(broken).issues
    assert 'names port "metrics"' in issue.message


def test_limit_range_max_memory_is_the_smallest_max() -> None:
    ranges = [
        {
            "kind": "LimitRange",
            "metadata": {"name": "a"},
            "spec": {
                "limits": [
                    {"type": "Container", "max": {"memory": "1Gi", "cpu": "2"}},
                    {"type": "PersistentVolumeClaim", "max": {"storage": "10Gi"}},
                ]
            },
        },
        {
            "kind": "LimitRange",
            "metadata": {"name": "b"},
            "spec": {"limits": [{"type": "Pod", "max": {"memory": "768Mi"}}]},
        },
    ]
    assert limit_range_max_memory(ranges) == 768 * 2**20
    assert limit_range_max_memory([]) is None
