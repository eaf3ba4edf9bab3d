from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcp_server.diagnostics.resources import (
    METRICS_UNAVAILABLE,
    container_resources,
    cpu_millicores,
    format_cpu,
    format_memory,
    memory_bytes,
    pod_requests,
    resource_report,
    usage_issues,
)
from policies.diagnosis import IssueType

from .conftest import load


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("100m", 100),
        ("1", 1000),
        ("1.5", 1500),
        (2, 2000),
        ("981234567n", 982),
        ("981234n", 1),
        ("250u", 1),
    ],
)
def test_cpu_quantities(value: object, expected: int) -> None:
    assert cpu_millicores(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("64Mi", 64 * 2**20),
        ("1Gi", 2**30),
        ("100M", 10**8),
        ("51380Ki", 51380 * 1024),
        ("1e3", 1000),
    ],
)
def test_memory_quantities(value: object, expected: int) -> None:
    assert memory_bytes(value) == expected


@pytest.mark.parametrize("junk", [None, "", "abc", "12Qi", True, [], {}, "-5Mi", "NaN"])
def test_invalid_quantities_are_none(junk: object) -> None:
    assert cpu_millicores(junk) is None
    assert memory_bytes(junk) is None


def test_formatting() -> None:
    assert format_cpu(150) == "150m"
    assert format_cpu(2000) == "2"
    assert format_memory(256 * 2**20) == "256Mi"
    assert format_memory(2**30) == "1Gi"
    assert format_memory(51380 * 1024) == "50.2Mi"
    assert format_memory(None) is None


def test_oom_pod_near_its_limit() -> None:
    data = load("oomkilled")
    report = resource_report(data["pod"], data["metrics"], metrics_available=True)
    assert report.metrics_available
    [c] = report.containers
    assert c.memory.usage == "50.2Mi"
    assert c.memory.limit == "50Mi"
    assert c.memory.percentage_of_limit == 100.4
    assert c.cpu.limit is None and c.cpu.percentage_of_limit is None
    assert c.cpu.usage == "982m"
    assert "Memory usage at 100% of limit" in c.issues
    assert "No CPU limit set" in c.issues
    issues = usage_issues(container_resources(data["pod"], data["metrics"]))
    assert [i.type for i in issues] == [IssueType.HIGH_MEMORY_USAGE]


def test_spec_example_shape() -> None:
    pod = {
        "spec": {
            "containers": [
                {
                    "name": "nginx",
                    "resources": {
                        "requests": {"cpu": "100m", "memory": "128Mi"},
                        "limits": {"cpu": "200m", "memory": "512Mi"},
                    },
                }
            ]
        }
    }
    metrics = {"containers": [{"name": "nginx", "usage": {"cpu": "150m", "memory": "256Mi"}}]}
    report = resource_report(pod, metrics, metrics_available=True)
    dumped = report.containers[0].model_dump()
    assert dumped["cpu"] == {
        "usage": "150m",
        "request": "100m",
        "limit": "200m",
        "percentage_of_limit": 75.0,
        "percentage_of_request": 150.0,
    }
    assert dumped["memory"]["percentage_of_limit"] == 50.0
    assert "CPU usage above request" in dumped["issues"]
    assert "Consider increasing the CPU request of nginx" in report.recommendations


def test_without_metrics_usage_is_none_not_zero() -> None:
    data = load("healthy-noisy")
    report = resource_report(data["pod"], None, metrics_available=False)
    assert not report.metrics_available
    assert report.message == METRICS_UNAVAILABLE
    [c] = report.containers
    assert c.cpu.usage is None and c.memory.usage is None
    assert c.memory.percentage_of_limit is None
    assert c.memory.limit == "256Mi"
    # Metrics passed while the API is said to be unavailable are ignored, not half-used.
    assert container_resources(data["pod"], None)[0].memory_usage_bytes is None


def test_pod_requests_follow_the_scheduler() -> None:
    pod = {
        "spec": {
            "initContainers": [
                {"name": "migrate", "resources": {"requests": {"cpu": "2", "memory": "1Gi"}}},
                {
                    "name": "proxy",
                    "restartPolicy": "Always",
                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                },
            ],
            "containers": [
                {
                    "name": "a",
                    "resources": {"requests": {"cpu": "500m"}, "limits": {"memory": "256Mi"}},
                },
                {"name": "b", "resources": {"requests": {"cpu": "250m", "memory": "128Mi"}}},
            ],
            "overhead": {"cpu": "10m"},
        }
    }
    # init "migrate" (2 CPU) dominates cpu; memory: limit defaults the request of "a".
    assert pod_requests(pod) == (2010, max(2**30, 256 * 2**20 + 128 * 2**20 + 64 * 2**20))


@given(st.one_of(st.text(max_size=30), st.integers(), st.floats(), st.none()))
def test_quantity_parsing_is_total(value: object) -> None:
    for parse in (cpu_millicores, memory_bytes):
        result = parse(value)
        assert result is None or result >= 0
