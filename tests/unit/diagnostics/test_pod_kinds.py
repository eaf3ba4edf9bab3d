"""The pure diagnostics of the kinds that make pods fail (cron schedules, claims, nodes,
Services, DaemonSets), on objects shaped as the 1.28 recordings show them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mcp_server.diagnostics.cron import parse
from mcp_server.diagnostics.daemonsets import daemonset_info
from mcp_server.diagnostics.jobs import cronjob_info
from mcp_server.diagnostics.nodes import node_findings
from mcp_server.diagnostics.services import service_findings
from mcp_server.diagnostics.storage import claim_findings

AT = datetime(2026, 12, 7, 17, 47, 30, tzinfo=UTC)


def test_cron_due_times_and_descriptors() -> None:
    every = parse("*/15 * * * *")
    assert every is not None
    due = every.due_times(datetime(2026, 12, 7, 17, 0, tzinfo=UTC), AT)
    assert [t.minute for t in due] == [15, 30, 45]
    assert parse("@hourly") == parse("0 * * * *")
    weekdays = parse("0 9 * * mon-fri")
    assert weekdays is not None and not weekdays.matches(datetime(2026, 12, 6, 9, 0, tzinfo=UTC))
    assert parse("61 * * * *") is None and parse("not a schedule") is None


def test_cronjob_missed_runs_and_failed_outcomes() -> None:
    cronjob = {
        "metadata": {"name": "nightly", "namespace": "default"},
        "spec": {"schedule": "*/1 * * * *", "concurrencyPolicy": "Forbid"},
        "status": {"lastScheduleTime": "2026-12-07T17:44:00Z", "active": [{"name": "n-1"}]},
    }
    events = [
        {
            "involvedObject": {"kind": "CronJob", "name": "nightly"},
            "reason": "SawCompletedJob",
            "message": "Saw completed job: n-0, status: Failed",
            "lastTimestamp": "2026-12-07T17:43:10Z",
        }
    ]
    info, issues, advice = cronjob_info(cronjob, events=events, now=AT)
    assert info.missed_schedules == 2  # 17:45 and 17:46; 17:47 is not a minute old yet
    assert info.recent_outcomes == [{"job": "n-0", "status": "Failed"}]
    assert issues[0].type == "CronJobFailing" and "missed" in issues[0].message
    assert any("n-1" in line for line in advice)


def test_claim_pending_on_a_missing_storage_class() -> None:
    pod = {
        "metadata": {"name": "db-0", "namespace": "default"},
        "spec": {"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]},
        "status": {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "message": "0/2 nodes are available: pod has unbound immediate "
                    "PersistentVolumeClaims.",
                }
            ],
        },
    }
    claim = {
        "metadata": {"name": "data"},
        "spec": {"storageClassName": "rk-fast", "resources": {"requests": {"storage": "2Gi"}}},
        "status": {"phase": "Pending"},
    }
    event = {
        "involvedObject": {"kind": "PersistentVolumeClaim", "name": "data"},
        "reason": "ProvisioningFailed",
        "message": 'storageclass.storage.k8s.io "rk-fast" not found',
    }
    claims, issues, advice = claim_findings(pod, [claim], [event])
    assert claims[0].storage_class == "rk-fast" and claims[0].phase == "Pending"
    assert issues[0].type == "PVCPending" and "rk-fast" in issues[0].message
    assert "kubectl describe pvc data -n default" in advice


def test_node_not_ready_and_an_evicted_pods_node() -> None:
    node = {
        "metadata": {"name": "rk-node-3"},
        "spec": {
            "taints": [
                {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"},
                {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"},
            ]
        },
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "Unknown",
                    "reason": "NodeStatusUnknown",
                    "message": "Kubelet stopped posting node status.",
                }
            ]
        },
    }
    pod = {"spec": {"nodeName": "rk-node-3"}, "status": {"phase": "Running"}}
    info, issues, advice = node_findings(pod, node, evicted=False)
    assert info is not None and info.ready == "Unknown"
    assert issues[0].type == "NodeNotReady"
    assert any("kubectl drain rk-node-3 --ignore-daemonsets" in line for line in advice)
    ready = {**node, "spec": {}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    _, issues, advice = node_findings(pod, ready, evicted=True)
    assert issues == [] and any("kubectl cordon rk-node-3" in line for line in advice)


def test_services_selecting_the_pod_and_one_selecting_nothing() -> None:
    pod = {"metadata": {"name": "api-1", "namespace": "default", "uid": "u1"}}
    slices: list[dict[str, Any]] = [
        {
            "metadata": {"labels": {"kubernetes.io/service-name": "api"}},
            "endpoints": [
                {
                    "conditions": {"ready": False},
                    "targetRef": {"kind": "Pod", "name": "api-1", "uid": "u1"},
                }
            ],
        },
        {"metadata": {"labels": {"kubernetes.io/service-name": "orphan"}}, "endpoints": None},
    ]
    services, issues, _ = service_findings(pod, slices)
    by_name = {s.name: s for s in services}
    assert by_name["api"].selects_pod and by_name["api"].pod_ready is False
    assert not by_name["orphan"].selects_pod
    assert [i.type for i in issues] == ["ServiceNoReadyEndpoints"]


def test_daemonset_gaps_an_untolerated_taint_and_a_tolerated_one() -> None:
    ds = {
        "metadata": {"name": "agent", "namespace": "default"},
        "spec": {"template": {"spec": {"tolerations": [{"key": "gpu", "operator": "Exists"}]}}},
        "status": {"desiredNumberScheduled": 1, "currentNumberScheduled": 1, "numberReady": 1},
    }
    nodes: list[dict[str, Any]] = [
        {"metadata": {"name": "a"}},
        {"metadata": {"name": "b"}, "spec": {"taints": [{"key": "gpu", "effect": "NoSchedule"}]}},
        {
            "metadata": {"name": "c"},
            "spec": {"taints": [{"key": "team", "value": "x", "effect": "NoSchedule"}]},
        },
    ]
    pods = [
        {
            "spec": {"nodeName": "a"},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        }
    ]
    info, issues, _ = daemonset_info(ds, nodes=nodes, pods=pods)
    gaps = {g.node: g.reason for g in info.nodes_without_pod}
    assert gaps["c"] == "taint team=x:NoSchedule not tolerated by the DaemonSet's pods"
    assert gaps["b"] == "no daemon pod on this node"
    assert issues[0].type == "DaemonSetPodsMissing"
