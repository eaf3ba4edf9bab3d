"""Memory sizing from evidence: the VPA rule after an OOM kill, trends from usage samples,
predicted OOM kills (always behind an approval) and leak candidates."""

from __future__ import annotations

import math
import random
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from policies_builders import GI, MI, NOW, context, diagnosis, issue, oom, policy

from policies import DEMO_POLICY_PATH, Action, ActionRecord, Outcome, decide, load_policy
from policies.memory_trend import (
    DECELERATING,
    FLAT,
    LINEAR,
    MemorySample,
    last_full_trend,
    percentile,
    predict_oom,
    runs,
    summarize,
    trend,
)

# -- samples ------------------------------------------------------------------------------


def linear(
    start: int = 64 * MI,
    per_minute: float = 10 * MI,
    minutes: float = 6,
    limit: int | None = 160 * MI,
    restart: int = 0,
    t0: float = 0.0,
) -> list[MemorySample]:
    count = int(minutes * 4) + 1  # every 15 s
    return [
        MemorySample(t0 + 15 * i, int(start + per_minute * 15 * i / 60), limit, restart)
        for i in range(count)
    ]


def plateau(
    start: int = 64 * MI,
    per_minute: float = 12 * MI,
    level: int = 180 * MI,
    minutes: float = 8,
    limit: int | None = 150 * MI,
) -> list[MemorySample]:
    span = level - start

    def at(seconds: float) -> int:
        return int(start + span * (1 - math.exp(-per_minute * seconds / 60 / span)))

    return [MemorySample(15.0 * i, at(15.0 * i), limit, 0) for i in range(int(minutes * 4) + 1)]


def trend_info(samples: list[MemorySample], horizon: float = 30) -> dict[str, Any]:
    found = last_full_trend(samples, horizon_minutes=horizon, min_samples=8)
    assert found is not None
    return found.to_dict()


def with_trend(
    limit: int, samples: list[MemorySample], request: int | None = None, peak: int | None = None
) -> list[dict[str, Any]]:
    return [
        {
            "name": "app",
            "memory_limit_bytes": limit,
            "memory_request_bytes": request,
            "memory_peak_bytes": peak,
            "memory_trend": trend_info(samples),
        }
    ]


def raised(minutes_ago: float = 10) -> ActionRecord:
    return ActionRecord(
        at=NOW - timedelta(minutes=minutes_ago),
        namespace="default",
        workload="Deployment/web",
        action=Action.INCREASE_MEMORY_LIMIT.value,
        outcome=Outcome.HEALED,
    )


def predicted(container: str = "app") -> dict[str, Any]:
    built: dict[str, Any] = issue("PredictedOOM", severity="warning", container=container)
    return built


# -- the VPA rule after an OOM kill ----------------------------------------------------------


def test_oom_at_128mi_gets_228mi_and_the_reason_shows_the_numbers() -> None:
    resources = [{"name": "app", "memory_limit_bytes": 128 * MI, "memory_request_bytes": 64 * MI}]
    decision = decide(diagnosis(oom(), resources=resources), context())
    assert decision.action is Action.INCREASE_MEMORY_LIMIT
    assert decision.parameters["memory_limit_bytes"] == 228 * MI
    assert decision.reason == (
        "container app OOM-killed at 128Mi (peak 128Mi, request 64Mi); "
        "VPA rule max(peak+100Mi, peak×1.2) = 228Mi"
    )
    assert decision.requires_approval


def test_the_observed_peak_counts_when_above_the_limit() -> None:
    # A limit lowered since (or a peak seen by another run): the larger figure wins.
    resources = [{"name": "app", "memory_limit_bytes": 128 * MI, "memory_peak_bytes": 1000 * MI}]
    decision = decide(diagnosis(oom(), resources=resources), context())
    assert decision.parameters["memory_limit_bytes"] == 1200 * MI
    assert "peak 1000Mi" in decision.reason


def test_the_request_counts_when_above_the_limit_seen() -> None:
    resources = [{"name": "app", "memory_limit_bytes": 128 * MI, "memory_request_bytes": 256 * MI}]
    decision = decide(diagnosis(oom(), resources=resources), context())
    assert decision.parameters["memory_limit_bytes"] == 356 * MI


def test_capped_by_the_policy_max() -> None:
    pol = policy(memory=load_policy().memory.model_copy(update={"max": 200 * MI}))
    resources = [{"name": "app", "memory_limit_bytes": 128 * MI}]
    decision = decide(diagnosis(oom(), resources=resources), context(pol))
    assert decision.parameters["memory_limit_bytes"] == 200 * MI
    assert decision.reason.endswith("= 228Mi; capped at 200Mi")


def test_capped_by_the_limit_range() -> None:
    resources = [{"name": "app", "memory_limit_bytes": 128 * MI}]
    d = diagnosis(oom(), resources=resources, limit_range_max_memory_bytes=160 * MI)
    decision = decide(d, context())
    assert decision.parameters["memory_limit_bytes"] == 160 * MI
    assert "capped at 160Mi" in decision.reason


def test_rounded_up_to_a_whole_mi() -> None:
    # 1001Mi x 1.2 = 1201.2Mi -> 1202Mi
    resources = [{"name": "app", "memory_limit_bytes": 1001 * MI}]
    decision = decide(diagnosis(oom(), resources=resources), context())
    assert decision.parameters["memory_limit_bytes"] == 1202 * MI
    odd = [{"name": "app", "memory_limit_bytes": 128 * MI + 1}]
    assert decide(diagnosis(oom(), resources=odd), context()).parameters["memory_limit_bytes"] == (
        229 * MI
    )


@settings(max_examples=300, deadline=None)
@given(
    limit=st.integers(1 * MI, 8 * GI),
    request=st.one_of(st.none(), st.integers(0, 8 * GI)),
    peak=st.one_of(st.none(), st.integers(0, 8 * GI)),
    cap=st.one_of(st.none(), st.integers(16 * MI, 8 * GI)),
    ratio=st.floats(1.01, 3.0),
    bump=st.integers(1, 1 * GI),
)
def test_the_proposed_limit_raises_the_killed_limit_and_respects_the_cap(
    limit: int, request: int | None, peak: int | None, cap: int | None, ratio: float, bump: int
) -> None:
    memory = load_policy().memory.model_copy(update={"oom_bump_ratio": ratio, "oom_min_bump": bump})
    pol = policy(memory=memory)
    resources = [
        {
            "name": "app",
            "memory_limit_bytes": limit,
            "memory_request_bytes": request,
            "memory_peak_bytes": peak,
        }
    ]
    d = diagnosis(oom(), resources=resources, limit_range_max_memory_bytes=cap)
    decision = decide(d, context(pol))
    ceiling = min(memory.max, cap) if cap is not None else memory.max
    if decision.action is Action.INCREASE_MEMORY_LIMIT:
        new = decision.parameters["memory_limit_bytes"]
        assert isinstance(new, int)
        assert limit < new <= ceiling
    else:
        assert decision.action is Action.INVESTIGATE_MANUALLY
        assert limit >= ceiling


# -- trends ---------------------------------------------------------------------------------


def test_a_steady_climb_is_linear_and_reaches_the_limit() -> None:
    found = trend(linear(), horizon_minutes=30, min_samples=8)
    assert found is not None and found.shape == LINEAR and found.leak
    assert found.rate_bytes_per_minute == pytest.approx(10 * MI, rel=0.01)
    # 64Mi + 60Mi after 6 min; 36Mi left at 10Mi/min
    assert found.minutes_to_limit == pytest.approx(3.6, abs=0.1)


def test_a_slowing_climb_is_decelerating_and_projected_to_its_plateau() -> None:
    found = trend(plateau(), horizon_minutes=30, min_samples=8)
    assert found is not None and found.shape == DECELERATING and found.leak
    assert found.projected_bytes is not None
    assert 170 * MI < found.projected_bytes < 195 * MI  # levels off near 180Mi
    assert found.minutes_to_limit is not None and 3 < found.minutes_to_limit < 9


def test_a_plateau_below_the_limit_is_never_reached() -> None:
    found = trend(plateau(limit=256 * MI), horizon_minutes=30, min_samples=8)
    assert found is not None and found.shape == DECELERATING
    assert found.minutes_to_limit is None and not found.leak
    assert predict_oom(plateau(limit=256 * MI), horizon_minutes=30) is None


def test_a_flat_working_set_is_flat() -> None:
    flat = linear(per_minute=0, minutes=30)
    found = trend(flat, horizon_minutes=30, min_samples=8)
    assert found is not None and found.shape == FLAT and not found.leak
    assert predict_oom(flat, horizon_minutes=30) is None


def test_a_prediction_needs_eight_samples_over_five_minutes() -> None:
    assert predict_oom(linear(minutes=4.5), horizon_minutes=30) is None
    assert predict_oom(linear(minutes=5), horizon_minutes=30) is not None
    sparse = linear(minutes=6)[::4]  # one a minute: 7 samples
    assert predict_oom(sparse, horizon_minutes=30) is None


def test_a_slow_climb_beyond_the_horizon_is_no_prediction() -> None:
    slow = linear(start=64 * MI, per_minute=1 * MI, minutes=20, limit=512 * MI)
    assert predict_oom(slow, horizon_minutes=30) is None
    assert predict_oom(slow, horizon_minutes=24 * 60) is not None


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), level=st.integers(32, 900), noise=st.floats(0.0, 0.05))
def test_a_noisy_steady_pod_never_triggers(seed: int, level: int, noise: float) -> None:
    rng = random.Random(seed)
    samples = [
        MemorySample(15.0 * i, int(level * MI * (1 + rng.uniform(-noise, noise))), 1024 * MI, 0)
        for i in range(120)
    ]
    assert predict_oom(samples, horizon_minutes=30) is None


def test_runs_split_at_restarts() -> None:
    first = linear(minutes=3, restart=0)
    second = linear(minutes=3, restart=1, t0=200)
    split = runs([*first, *second])
    assert [len(r) for r in split] == [len(first), len(second)]
    # Without restart counts a drop in usage splits.
    bare = [MemorySample(s.at_seconds, s.usage_bytes, s.limit_bytes) for s in [*first, *second]]
    assert len(runs(bare)) == 2


def test_the_last_full_run_explains_an_oom_kill() -> None:
    before = linear(minutes=6, restart=0)
    after = linear(minutes=0.5, restart=1, t0=400)  # 3 samples since the restart
    found = last_full_trend([*before, *after], horizon_minutes=30, min_samples=8)
    assert found is not None and found.samples == len(before)


def test_percentiles_and_summary() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 95) == pytest.approx(95.05)
    assert percentile([], 50) is None
    summary = summarize(values)
    assert summary.count == 100 and summary.max == 100.0
    assert summary.to_dict()["p95"] == pytest.approx(95.05)


# -- predicted OOM in the rules ----------------------------------------------------------------


def test_a_linear_climb_is_a_likely_leak_for_a_human() -> None:
    d = diagnosis(predicted(), ready=True, resources=with_trend(160 * MI, linear()))
    decision = decide(d, context())
    assert decision.action is Action.INVESTIGATE_MANUALLY
    assert decision.issue_type == "PredictedOOM"
    assert "likely leak" in decision.reason and "10.0Mi/min" in decision.reason
    assert decision.parameters["leak_candidate"] == "true"


def test_a_levelling_climb_raises_the_limit_to_the_projected_need() -> None:
    d = diagnosis(predicted(), ready=True, resources=with_trend(150 * MI, plateau()))
    decision = decide(d, context())
    assert decision.action is Action.INCREASE_MEMORY_LIMIT
    new = decision.parameters["memory_limit_bytes"]
    assert isinstance(new, int) and 270 * MI <= new <= 300 * MI  # ~185Mi + 100Mi
    assert "predicted to be OOM-killed" in decision.reason
    assert "VPA rule max(need+100Mi, need×1.2)" in decision.reason
    assert decision.requires_approval and decision.awaiting_approval


def test_a_prediction_asks_a_human_even_when_the_policy_auto_approves() -> None:
    demo = load_policy(DEMO_POLICY_PATH)
    generous = demo.updated(
        auto_approve=[*demo.auto_approve, Action.INCREASE_MEMORY_LIMIT],
        auto_approve_max_risk="high",
    )
    d = diagnosis(predicted(), ready=True, resources=with_trend(150 * MI, plateau()))
    decision = decide(d, context(generous))
    assert decision.action is Action.INCREASE_MEMORY_LIMIT
    assert decision.requires_approval
    approval = next(c for c in decision.checks if c.name == "approval")
    assert not approval.passed
    # ... while the same policy auto-approves the raise after a real OOM kill.
    resources = [{"name": "app", "memory_limit_bytes": 128 * MI}]
    assert not decide(diagnosis(oom(), resources=resources), context(generous)).requires_approval


def test_a_prediction_without_a_trend_investigates() -> None:
    resources = [{"name": "app", "memory_limit_bytes": 128 * MI}]
    decision = decide(diagnosis(predicted(), ready=True, resources=resources), context())
    assert decision.action is Action.INVESTIGATE_MANUALLY


def test_a_predicted_oom_of_a_bare_pod_investigates() -> None:
    d = diagnosis(predicted(), workload=None, resources=with_trend(150 * MI, plateau()))
    assert decide(d, context()).action is Action.INVESTIGATE_MANUALLY


# -- leak candidates ------------------------------------------------------------------------


def test_a_second_oom_after_a_raise_is_a_leak_candidate_with_the_trend() -> None:
    samples = linear(start=128 * MI, per_minute=10 * MI, minutes=9, limit=228 * MI)
    d = diagnosis(oom(), resources=with_trend(228 * MI, samples))
    decision = decide(d, context(recent_actions=(raised(),)))
    assert decision.action is Action.INVESTIGATE_MANUALLY
    assert "OOM-killed again at 228Mi" in decision.reason
    assert "leak candidate" in decision.reason and "~10.0Mi/min" in decision.reason
    assert decision.parameters["rate_mib_per_minute"] == "10.00"
    assert "minutes_to_limit" in decision.parameters


def test_a_second_oom_without_samples_is_a_leak_candidate_too() -> None:
    resources = [{"name": "app", "memory_limit_bytes": 228 * MI}]
    decision = decide(diagnosis(oom(), resources=resources), context(recent_actions=(raised(),)))
    assert decision.action is Action.INVESTIGATE_MANUALLY
    assert "no usage samples" in decision.reason


def test_a_second_oom_that_levels_off_is_raised_from_the_evidence() -> None:
    d = diagnosis(oom(), resources=with_trend(150 * MI, plateau()))
    decision = decide(d, context(recent_actions=(raised(),)))
    assert decision.action is Action.INCREASE_MEMORY_LIMIT
    new = decision.parameters["memory_limit_bytes"]
    assert isinstance(new, int) and new >= 270 * MI
