"""The executor's pure parts: forged-diagnosis detection (the patches: test_writes)."""

from __future__ import annotations

from typing import Any

from mcp_server.healing import forged_issue_types
from policies import Action, Decision, Diagnosis, Risk, Target
from policies.diagnosis import Issue


def _diagnosis(*types: str) -> Diagnosis:
    return Diagnosis(
        namespace="default",
        pod_name="web-1",
        issues=[Issue(type=t, severity="critical") for t in types],
    )


def test_a_claimed_issue_the_cluster_shows_is_not_forged() -> None:
    claimed = {"issues": [{"type": "CrashLoopBackOff"}]}
    assert forged_issue_types(claimed, _diagnosis("CrashLoopBackOff")) == []


def test_one_condition_seen_at_another_moment_is_not_forged() -> None:
    claimed = {"issues": [{"type": "CrashLoopBackOff"}, {"type": "LogErrors"}]}
    assert forged_issue_types(claimed, _diagnosis("Error", "HighRestartCount")) == []


def test_an_issue_the_cluster_does_not_show_is_forged() -> None:
    claimed = {"issues": [{"type": "OOMKilled"}, {"type": "ImagePullBackOff"}]}
    assert forged_issue_types(claimed, _diagnosis()) == ["ImagePullBackOff", "OOMKilled"]
    assert forged_issue_types(claimed, _diagnosis("Pending")) == ["ImagePullBackOff", "OOMKilled"]


def test_junk_issues_are_ignored_not_trusted() -> None:
    assert forged_issue_types({"issues": "lots"}, _diagnosis()) == []
    assert forged_issue_types({"issues": [1, None, {"x": 1}]}, _diagnosis()) == []


DEPLOYMENT: dict[str, Any] = {
    "metadata": {
        "name": "web",
        "uid": "dep-uid",
        "annotations": {"deployment.kubernetes.io/revision": "2"},
    },
    "spec": {
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {"name": "side", "image": "busybox"},
                    {"name": "app", "image": "nginx:bad", "resources": {"requests": {"cpu": "1"}}},
                ]
            },
        }
    },
}


def _decision(**parameters: Any) -> Decision:
    pod = Target("Pod", "default", "web-1")
    return Decision(
        action=Action.INCREASE_MEMORY_LIMIT,
        reason="r",
        confidence=1.0,
        estimated_risk=Risk.MEDIUM,
        requires_approval=True,
        safety_checks_passed=True,
        checks=(),
        target=Target("Deployment", "default", "web"),
        pod=pod,
        workload="Deployment/web",
        parameters=parameters,
    )


def _rs(revision: int, image: str, owner: str = "dep-uid") -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"web-{revision}",
            "annotations": {
                "deployment.kubernetes.io/revision": str(revision),
                "kubernetes.io/change-cause": f"v{revision}",
            },
            "ownerReferences": [{"kind": "Deployment", "name": "web", "uid": owner}],
        },
        "spec": {
            "template": {
                "metadata": {"labels": {"app": "web", "pod-template-hash": f"h{revision}"}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            }
        },
    }


def test_oom_is_not_implied_by_a_crash() -> None:
    claimed = {"issues": [{"type": "OOMKilled"}]}
    assert forged_issue_types(claimed, _diagnosis("CrashLoopBackOff")) == ["OOMKilled"]
    assert forged_issue_types(claimed, _diagnosis("CrashLoopBackOff", "OOMKilled")) == []
