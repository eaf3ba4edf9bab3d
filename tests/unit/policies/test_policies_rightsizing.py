"""Right-sizing recommendations (policies.rightsizing): VPA-style requests and limits from the
observed usage, readable rounding, minimums, verdicts and the cluster-wide totals."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies import MemoryPolicy, load_policy
from policies.memory_trend import percentile
from policies.policy import RightsizingPolicy
from policies.rightsizing import (
    FITS,
    NOT_ENOUGH_DATA,
    OVER,
    UNDER,
    ContainerUsage,
    Observation,
    Replica,
    format_cpu,
    format_memory,
    recommend,
    round_cpu_up,
    round_memory_up,
    totals,
)

MI = 2**20
POLICY = RightsizingPolicy()


def usage(
    memory: list[int],
    cpu: list[int] | None = None,
    *,
    request: int | None = 128 * MI,
    limit: int | None = 256 * MI,
    cpu_request: int | None = 50,
    cpu_limit: int | None = None,
    replicas: int = 1,
    step: float = 15.0,
    instances: list[str] | None = None,
) -> ContainerUsage:
    cpu = cpu if cpu is not None else [20] * len(memory)
    return ContainerUsage(
        "shop",
        "Deployment",
        "web",
        "app",
        tuple(Replica(f"web-{i}", request, limit, cpu_request, cpu_limit) for i in range(replicas)),
        tuple(
            Observation(i * step, m, c, (instances or ["uid#0"] * len(memory))[i])
            for i, (m, c) in enumerate(zip(memory, cpu, strict=True))
        ),
    )


def test_the_shipped_policy_has_vpa_defaults() -> None:
    policy = load_policy(None).rightsizing
    assert policy.safety_margin == 0.15  # VPA's --recommendation-margin-fraction
    assert policy.min_cpu_millicores == 10 and policy.min_memory == 16 * MI
    assert policy.min_samples == 8


def test_rounding_is_readable_and_upwards() -> None:
    assert round_memory_up(60 * MI + 1) == 61 * MI
    assert round_memory_up(64 * MI) == 64 * MI
    assert round_cpu_up(11.2) == 15 and round_cpu_up(15) == 15
    assert round_cpu_up(101) == 110 and round_cpu_up(99.0000001) == 100
    assert format_memory(96 * MI) == "96Mi" and format_memory(2 * 2**30) == "2Gi"
    assert format_cpu(250) == "250m" and format_cpu(2000) == "2" and format_cpu(None) == "-"


def test_an_over_provisioned_container() -> None:
    rec = recommend(usage([60 * MI] * 10, request=512 * MI, limit=1024 * MI, replicas=3), POLICY)
    assert rec.verdict == OVER
    assert rec.memory.recommended_request == round_memory_up(60 * MI * 1.15) == 69 * MI
    # peak x 1.15 = 69Mi, but at least the OOM rule's max(60 + 100, 60 x 1.2) Mi
    assert rec.memory.recommended_limit == 160 * MI
    assert rec.memory.freed == 3 * (512 - 69) * MI
    assert rec.memory.verdict == OVER
    assert rec.suggested_command() == (
        "kubectl -n shop set resources deployment/web -c app "
        "--requests=memory=69Mi,cpu=25m --limits=memory=160Mi"
    )


def test_an_under_provisioned_container() -> None:
    rec = recommend(usage([200 * MI] * 10, request=64 * MI, limit=256 * MI), POLICY)
    assert rec.verdict == UNDER
    assert rec.memory.recommended_request == 230 * MI
    assert rec.memory.freed == (64 - 230) * MI
    assert rec.memory.recommended_limit == 300 * MI  # max(200 + 100, 200 x 1.2, 200 x 1.15)
    assert "below the observed p95" in rec.reasons[0]


def test_a_peak_near_the_limit_or_a_restart_is_under_provisioned() -> None:
    near = recommend(usage([120 * MI] * 10, request=128 * MI, limit=128 * MI), POLICY)
    assert near.verdict == UNDER
    assert near.memory.recommended_limit == 220 * MI  # max(120 + 100, 120 x 1.2) Mi
    restarted = recommend(
        usage([50 * MI] * 10, request=64 * MI, instances=["u#0"] * 5 + ["u#1"] * 5), POLICY
    )
    assert restarted.restarts_seen == 1 and restarted.verdict == UNDER
    assert restarted.memory.recommended_limit == 150 * MI


def test_fits_within_the_band() -> None:
    rec = recommend(usage([100 * MI] * 10, [20] * 10, request=128 * MI, cpu_request=25), POLICY)
    assert rec.verdict == FITS, rec.reasons


def test_not_enough_data_for_few_samples_or_a_short_span() -> None:
    assert recommend(usage([60 * MI] * 3), POLICY).verdict == NOT_ENOUGH_DATA
    short = recommend(usage([60 * MI] * 10, step=1.0), POLICY)
    assert short.verdict == NOT_ENOUGH_DATA
    assert "10 sample(s) over 9s" in short.reasons[0]
    assert short.memory.recommended_request is None and short.memory.freed == 0
    assert short.memory.request == 128 * MI


def test_a_big_peak_takes_the_ratio_and_the_margin() -> None:
    rec = recommend(usage([2048 * MI] * 10, request=2048 * MI, limit=4096 * MI), POLICY)
    assert rec.memory.recommended_limit == round_memory_up(2048 * MI * 1.2)  # ratio > margin
    assert rec.memory.verdict == FITS  # the request covers the p95, within the margin


def test_minimums_and_a_cpu_limit_below_the_request() -> None:
    tiny = recommend(usage([1 * MI] * 10, [1] * 10), POLICY)
    assert tiny.memory.recommended_request == 16 * MI
    assert tiny.cpu.recommended_request == 10
    busy = recommend(usage([60 * MI] * 10, [300] * 10, cpu_request=100, cpu_limit=200), POLICY)
    assert busy.cpu.recommended_request == 350
    assert busy.cpu.recommended_limit == 350 and busy.cpu.limit == 200
    assert busy.cpu.verdict == UNDER


def test_no_request_is_under_provisioned() -> None:
    rec = recommend(usage([60 * MI] * 10, request=None, limit=None, cpu_request=None), POLICY)
    assert rec.verdict == UNDER
    assert rec.memory.freed == -69 * MI


def test_totals_split_freed_and_needed() -> None:
    over = recommend(usage([60 * MI] * 10, request=512 * MI, replicas=2), POLICY)
    under = recommend(usage([200 * MI] * 10, request=64 * MI, limit=512 * MI), POLICY)
    empty = recommend(usage([60 * MI]), POLICY)
    found = totals([over, under, empty])
    assert found.memory_freed_bytes == 2 * (512 - 69) * MI
    assert found.memory_needed_bytes == (230 - 64) * MI
    assert found.memory_net_bytes == found.memory_freed_bytes - found.memory_needed_bytes
    assert found.by_verdict == {OVER: 1, UNDER: 1, FITS: 0, NOT_ENOUGH_DATA: 1}


@settings(max_examples=200, deadline=None)
@given(
    memory=st.lists(st.integers(0, 64 * 2**30), min_size=8, max_size=60),
    cpu=st.data(),
    margin=st.floats(0.0, 1.0),
    request=st.one_of(st.none(), st.integers(1, 64 * 2**30)),
    limit=st.one_of(st.none(), st.integers(1, 64 * 2**30)),
    restarted=st.booleans(),
)
def test_recommendations_cover_what_was_observed(
    memory: list[int],
    cpu: st.DataObject,
    margin: float,
    request: int | None,
    limit: int | None,
    restarted: bool,
) -> None:
    cpu_values = cpu.draw(
        st.lists(st.integers(0, 64_000), min_size=len(memory), max_size=len(memory))
    )
    instances = ["u#0"] * len(memory)
    if restarted:
        instances[-1] = "u#1"
    policy = RightsizingPolicy(safety_margin=margin)
    rec = recommend(
        usage(memory, cpu_values, request=request, limit=limit, instances=instances),
        policy,
        MemoryPolicy(),
    )
    assert rec.verdict != NOT_ENOUGH_DATA
    p95_memory = percentile([float(m) for m in memory], 95.0)
    p95_cpu = percentile([float(c) for c in cpu_values], 95.0)
    assert p95_memory is not None and p95_cpu is not None
    assert rec.memory.recommended_request is not None and rec.memory.recommended_limit is not None
    assert rec.cpu.recommended_request is not None
    # Requests at least the observed p95 (plus the margin), the memory limit at least the peak
    # and the request; all rounded to whole Mi / 5m steps and never below the minimums.
    assert rec.memory.recommended_request >= p95_memory * (1 + margin) - 1e-6 * MI
    # (the percentile's interpolation may land a rounding error above a whole millicore)
    assert rec.cpu.recommended_request >= p95_cpu - 1e-6
    assert rec.memory.recommended_limit >= max(memory)
    assert rec.memory.recommended_limit >= rec.memory.recommended_request
    assert rec.memory.recommended_request % MI == 0 and rec.cpu.recommended_request % 5 == 0
    assert rec.memory.recommended_request >= policy.min_memory
    assert rec.cpu.recommended_request >= policy.min_cpu_millicores
    assert rec.memory.freed == (request or 0) - rec.memory.recommended_request
    assert rec.memory.recommended_limit >= max(memory) + MemoryPolicy().oom_min_bump
    if restarted:
        assert rec.verdict == UNDER


@pytest.mark.parametrize("value", [0.0, 0.4, 5.0, 99.9, 100.0, 101.0, 1234.5])
def test_cpu_rounding_never_goes_down(value: float) -> None:
    assert round_cpu_up(value) >= value and round_cpu_up(value) - value < 10 + 1e-9
    assert math.isclose(round_cpu_up(value) % 5, 0)
