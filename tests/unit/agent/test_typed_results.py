"""parse_result: a tool's structured answer becomes its contract model once, or a typed error."""

from __future__ import annotations

import pytest

from agent.tools import ToolboxError, ToolCallError, parse_result, timeout_result
from agent.workloads import unhealthy_of_workload
from kubemedic_contract import ListUnhealthyResult

ENTRY = {
    "namespace": "default",
    "pod_name": "cache-redis-x1y2z",
    "issue_type": "CrashLoopBackOff",
    "workload": {"kind": "ReplicaSet", "name": "cache-redis"},
    "owner_kind": "ReplicaSet",
    "owner_name": "cache-redis",
}


def test_a_success_is_parsed_into_its_model() -> None:
    result = parse_result("list_unhealthy_pods", {"pods": [ENTRY]}, ListUnhealthyResult)
    assert result.pods[0].workload.key == "ReplicaSet/cache-redis"


def test_a_failure_is_a_typed_error_with_its_details() -> None:
    answer = {
        "success": False,
        "error": {"code": "not_ready", "message": "syncing", "retryable": True},
    }
    with pytest.raises(ToolCallError) as failed:
        parse_result("list_unhealthy_pods", answer, ListUnhealthyResult)
    assert failed.value.code == "not_ready"
    assert failed.value.result() == answer
    with pytest.raises(ToolCallError) as late:
        parse_result("diagnose_pod", timeout_result("diagnose_pod", 5), ListUnhealthyResult)
    assert late.value.code == "tool_timeout"


def test_an_answer_outside_the_schema_is_refused() -> None:
    # The old spellings (name, a "Kind/name" string) are not the contract's.
    old = {"name": "web-1", "issue_type": "CrashLoopBackOff", "workload": "Deployment/web"}
    with pytest.raises(ToolboxError):
        parse_result(
            "list_unhealthy_pods", {"pods": [{**old, "namespace": "default"}]}, ListUnhealthyResult
        )
    with pytest.raises(ToolboxError):
        unhealthy_of_workload({"pods": [ENTRY], "count": 1}, "default", None)


def test_entries_of_a_workload_are_matched_by_the_servers_answer_alone() -> None:
    # A bare ReplicaSet whose name looks like a Deployment's ReplicaSet is still itself.
    lookalike = {**ENTRY, "workload": {"kind": "ReplicaSet", "name": "web-5d8f7c9b4"}}
    listed = {"pods": [ENTRY, lookalike]}
    assert unhealthy_of_workload(listed, "default", "Deployment/web") == []
    found = unhealthy_of_workload(listed, "default", "ReplicaSet/web-5d8f7c9b4")
    assert [e.workload.name for e in found] == ["web-5d8f7c9b4"]
    assert len(unhealthy_of_workload(listed, "default", None)) == 2
    assert unhealthy_of_workload(listed, "other", None) == []
