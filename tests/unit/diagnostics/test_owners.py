from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcp_server.diagnostics.owners import (
    max_unavailable,
    owner_chain,
    pdb_for_pod,
    pdb_healthy_budget_met,
    rollout_info,
    selector_matches,
    workload_info,
)

from .conftest import load

FAILED_AT = datetime(2026, 11, 24, 18, 0, 7, tzinfo=UTC)


def _rollout_objects() -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    data = load("imagepull-notfound")
    return data["pod"], data["deployment"], data["replicasets"]


def test_chain_pod_replicaset_deployment() -> None:
    pod, dep, rss = _rollout_objects()
    chain = owner_chain(pod, [dep, *rss])
    assert [(o.kind, o.name) for o in chain] == [
        ("ReplicaSet", "web-5f6d7c8b9a"),
        ("Deployment", "web"),
    ]


def test_chain_stops_where_objects_are_missing() -> None:
    pod, _, _ = _rollout_objects()
    chain, workload = workload_info(pod, [])
    assert [o.kind for o in chain] == ["ReplicaSet"]
    assert workload is not None and workload.kind == "ReplicaSet"
    assert workload.max_unavailable is None  # unknown stays unknown


def test_bare_pod_has_no_workload() -> None:
    pod, _, _ = _rollout_objects()
    del pod["metadata"]["ownerReferences"]
    assert workload_info(pod, []) == ([], None)


def test_workload_facts_and_pdb() -> None:
    pod, dep, rss = _rollout_objects()
    _, workload = workload_info(pod, [dep, *rss], pdbs=load("imagepull-notfound")["pdbs"])
    assert workload is not None
    assert (workload.kind, workload.name, workload.replicas) == ("Deployment", "web", 4)
    assert (workload.ready_replicas, workload.available_replicas) == (3, 3)
    assert workload.max_unavailable == 1  # 25% of 4
    assert (workload.pdb_name, workload.pdb_disruptions_allowed) == ("web-pdb", 0)


@pytest.mark.parametrize(
    ("strategy", "replicas", "expected"),
    [
        ({}, 10, 2),  # default 25%, rounded down
        ({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 3}}, 10, 3),
        ({"rollingUpdate": {"maxUnavailable": "50%"}}, 5, 2),
        ({"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}}, 5, 1),
        ({"rollingUpdate": {"maxUnavailable": "10%", "maxSurge": 1}}, 3, 0),
        ({"type": "Recreate"}, 3, None),
        ({"rollingUpdate": {"maxUnavailable": 10}}, 3, 3),  # never more than there are
        ({"rollingUpdate": {"maxUnavailable": "bogus"}}, 3, None),
    ],
)
def test_deployment_max_unavailable(
    strategy: dict[str, Any], replicas: int, expected: int | None
) -> None:
    dep = {"kind": "Deployment", "spec": {"replicas": replicas, "strategy": strategy}}
    assert max_unavailable(dep, replicas) == expected


def test_statefulset_and_daemonset_max_unavailable() -> None:
    assert max_unavailable({"kind": "StatefulSet", "spec": {}}, 3) == 1
    ds = {
        "kind": "DaemonSet",
        "spec": {"updateStrategy": {"rollingUpdate": {"maxUnavailable": "10%"}}},
    }
    assert max_unavailable(ds, 25) == 3  # rounded up
    assert max_unavailable({"kind": "Job"}, 1) is None


def test_selector_semantics() -> None:
    labels = {"app": "web", "tier": "front"}
    assert selector_matches({}, labels)
    assert not selector_matches(None, labels)
    assert selector_matches({"matchLabels": {"app": "web"}}, labels)
    assert not selector_matches({"matchLabels": {"app": "db"}}, labels)
    expr = {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["front", "x"]}]}
    assert selector_matches(expr, labels)
    assert not selector_matches(
        {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["front"]}]}, labels
    )
    assert selector_matches(
        {"matchExpressions": [{"key": "x", "operator": "DoesNotExist"}]}, labels
    )
    assert not selector_matches({"matchExpressions": [{"key": "x", "operator": "Exists"}]}, labels)


def test_most_restrictive_pdb_wins_and_other_namespaces_are_ignored() -> None:
    pod, _, _ = _rollout_objects()
    pdbs = [
        {
            "metadata": {"name": "loose", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}},
            "status": {"disruptionsAllowed": 2},
        },
        {
            "metadata": {"name": "tight", "namespace": "default"},
            "spec": {"selector": {}},
            "status": {"disruptionsAllowed": 1},
        },
        {
            "metadata": {"name": "elsewhere", "namespace": "prod"},
            "spec": {"selector": {}},
            "status": {"disruptionsAllowed": 0},
        },
        {
            "metadata": {"name": "fresh", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}},
        },
    ]
    assert pdb_for_pod(pod, pdbs) == ("tight", 1)
    assert pdb_for_pod(pod, pdbs[3:]) == ("fresh", None)
    assert pdb_for_pod(pod, []) is None


def test_rollout_history_of_a_bad_image_rollout() -> None:
    pod, dep, rss = _rollout_objects()
    info = rollout_info(dep, rss, pod, first_failure_at=FAILED_AT)
    assert (info.current_revision, info.previous_revision) == (2, 1)
    assert info.current_images == {"app": "nginx:1.99-doesnotexist"}
    assert info.previous_images == {"app": "nginx:1.25"}
    assert info.image_changed_in_latest_rollout
    assert info.previous_revision_healthy
    assert info.failure_began_with_latest_rollout
    assert info.latest_rollout_at == "2026-11-24T18:00:05Z"


def test_failure_before_the_rollout_did_not_begin_with_it() -> None:
    pod, dep, rss = _rollout_objects()
    earlier = datetime(2026, 11, 24, 17, 30, tzinfo=UTC)
    assert not rollout_info(
        dep, rss, pod, first_failure_at=earlier
    ).failure_began_with_latest_rollout
    assert not rollout_info(dep, rss, pod, first_failure_at=None).failure_began_with_latest_rollout


def test_failure_long_after_the_rollout_is_not_blamed_on_it() -> None:
    pod, dep, rss = _rollout_objects()
    week_later = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
    info = rollout_info(dep, rss, pod, first_failure_at=week_later)
    assert not info.failure_began_with_latest_rollout
    assert info.previous_revision_healthy  # still a valid target, just not to blame


def test_pod_of_the_old_revision_is_not_blamed_on_the_rollout() -> None:
    pod, dep, rss = _rollout_objects()
    old_pod = copy.deepcopy(pod)
    old_pod["metadata"]["ownerReferences"][0].update(
        name=rss[0]["metadata"]["name"], uid=rss[0]["metadata"]["uid"]
    )
    info = rollout_info(dep, rss, old_pod, first_failure_at=FAILED_AT)
    assert not info.failure_began_with_latest_rollout


def test_previous_revision_health_from_its_pods() -> None:
    pod, dep, rss = _rollout_objects()
    rss[0]["status"] = {"replicas": 0, "observedGeneration": 3}  # scaled down after the rollout
    assert not rollout_info(dep, rss, pod, first_failure_at=FAILED_AT).previous_revision_healthy
    old_pod = {
        "metadata": {
            "name": "web-6b7c8d9e0f-aaaaa",
            "ownerReferences": [
                {
                    "kind": "ReplicaSet",
                    "name": "web-6b7c8d9e0f",
                    "uid": rss[0]["metadata"]["uid"],
                    "controller": True,
                }
            ],
        },
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }
    info = rollout_info(dep, rss, pod, pods=[old_pod], first_failure_at=FAILED_AT)
    assert info.previous_revision_healthy


def test_first_revision_has_no_previous() -> None:
    pod, dep, rss = _rollout_objects()
    info = rollout_info(dep, rss[1:], pod, first_failure_at=FAILED_AT)
    assert info.current_revision == 2
    assert info.previous_revision is None
    assert not info.failure_began_with_latest_rollout
    assert not info.image_changed_in_latest_rollout


_int_or_percent = st.one_of(
    st.integers(-5, 50),
    st.integers(-5, 200).map(lambda n: f"{n}%"),
    st.text(max_size=4),
    st.none(),
)


@given(
    st.sampled_from(["Deployment", "StatefulSet", "DaemonSet", "Job"]),
    st.sampled_from(["RollingUpdate", "Recreate", "OnDelete", None]),
    _int_or_percent,
    _int_or_percent,
    st.integers(0, 40),
)
def test_max_unavailable_is_bounded(
    kind: str, kind_of_strategy: str | None, unavailable: object, surge: object, replicas: int
) -> None:
    rolling = {
        k: v for k, v in (("maxUnavailable", unavailable), ("maxSurge", surge)) if v is not None
    }
    strategy = {"type": kind_of_strategy, "rollingUpdate": rolling}
    workload = {"kind": kind, "spec": {"strategy": strategy, "updateStrategy": strategy}}
    value = max_unavailable(workload, replicas)
    assert value is None or 0 <= value <= max(replicas, 1)


def test_healthy_budget_is_met_only_when_every_selecting_pdb_is_at_its_minimum() -> None:
    pod, _, _ = _rollout_objects()

    def pdb(
        name: str, current: int | None, desired: int | None, ns: str = "default"
    ) -> dict[str, Any]:
        status = {} if current is None else {"currentHealthy": current, "desiredHealthy": desired}
        return {
            "metadata": {"name": name, "namespace": ns},
            "spec": {"selector": {"matchLabels": {"app": "web"}}},
            "status": status,
        }

    assert pdb_healthy_budget_met(pod, [pdb("a", 3, 3)]) is True
    assert pdb_healthy_budget_met(pod, [pdb("a", 3, 3), pdb("b", 2, 3)]) is False
    assert pdb_healthy_budget_met(pod, [pdb("a", 3, 3), pdb("b", None, None)]) is None
    assert pdb_healthy_budget_met(pod, [pdb("other", 0, 3, ns="prod")]) is None
    assert pdb_healthy_budget_met(pod, []) is None
