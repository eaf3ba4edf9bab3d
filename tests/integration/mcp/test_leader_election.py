"""Leader election against kubesim over HTTP, through the gateway: acquire, renew, a second
candidate refused while the Lease is renewed, a takeover after expiry (leaseTransitions + 1),
a lost race (409 on a stale resourceVersion), the renew deadline and a clean release."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubesim import KubeSim
from kubesim.store import LEASES
from mcp_server.gateway import Conflict, Gateway
from mcp_server.leader import ElectionConfig, LeaderElector

START = datetime(2026, 12, 7, 10, 0, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> datetime:
        return START + timedelta(seconds=self.t)

    def monotonic(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def sim() -> Iterator[KubeSim]:
    with KubeSim(speed=0.0, port=0) as running:
        running.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kubemedic"}})
        yield running


@pytest.fixture
def gateway(sim: KubeSim) -> Iterator[Gateway]:
    gw = Gateway.from_kubeconfig(sim.kubeconfig_path)
    yield gw
    gw.close()


def _elector(gateway: Any, clock: FakeClock, identity: str, **kw: Any) -> LeaderElector:
    config = ElectionConfig(namespace="kubemedic", identity=identity, **kw)
    return LeaderElector(gateway, config, now=clock.now, monotonic=clock.monotonic)


def _attempt(elector: LeaderElector) -> bool:
    ok = elector.try_acquire_or_renew()
    elector.note(ok)
    return ok


def _spec(sim: KubeSim) -> dict[str, Any]:
    return dict(sim.store.get(LEASES, "kubemedic", "kubemedic-leader")["spec"])


def test_acquire_renew_refuse_and_take_over_after_expiry(sim: KubeSim, gateway: Gateway) -> None:
    clock = FakeClock()
    a, b = _elector(gateway, clock, "pod-a"), _elector(gateway, clock, "pod-b")

    assert _attempt(a) and a.leading
    spec = _spec(sim)
    assert spec == {
        "holderIdentity": "pod-a",
        "leaseDurationSeconds": 15,
        "acquireTime": "2026-12-07T10:00:00.000000Z",
        "renewTime": "2026-12-07T10:00:00.000000Z",
        "leaseTransitions": 0,
    }
    rv = sim.store.get(LEASES, "kubemedic", "kubemedic-leader")["metadata"]["resourceVersion"]

    clock.advance(2)
    assert _attempt(a)
    spec = _spec(sim)
    assert spec["renewTime"] == "2026-12-07T10:00:02.000000Z"
    assert spec["acquireTime"] == "2026-12-07T10:00:00.000000Z"
    assert spec["leaseTransitions"] == 0
    lease = sim.store.get(LEASES, "kubemedic", "kubemedic-leader")
    assert lease["metadata"]["resourceVersion"] != rv

    # Renewed every retry period: the other candidate never gets it.
    for _ in range(10):
        clock.advance(2)
        assert not _attempt(b) and not b.leading
        assert _attempt(a)
    assert _spec(sim)["holderIdentity"] == "pod-a" and b.holder == "pod-a"

    # The leader stops renewing: not before renewTime + 15 s ...
    last = clock.t
    clock.advance(15)
    assert not _attempt(b)
    # ... but once that has passed, the other takes it with one more transition.
    clock.advance(0.5)
    assert clock.t - last > 15
    assert _attempt(b) and b.leading
    spec = _spec(sim)
    assert spec["holderIdentity"] == "pod-b" and spec["leaseTransitions"] == 1
    assert spec["acquireTime"] == spec["renewTime"] == "2026-12-07T10:00:37.500000Z"

    # The old leader's next renewal meets a 409 (its resourceVersion is stale), reads the Lease,
    # sees the new holder and steps down at once.
    assert a.leading
    assert not _attempt(a)
    assert not a.leading and a.holder == "pod-b"
    assert _spec(sim)["holderIdentity"] == "pod-b"


def test_a_409_on_a_stale_resource_version_loses_the_race_cleanly(
    sim: KubeSim, gateway: Gateway
) -> None:
    clock = FakeClock()
    old = _elector(gateway, clock, "pod-old")
    assert _attempt(old)
    clock.advance(30)  # expired: both candidates may try

    winner = _elector(gateway, clock, "pod-a")

    class RacingGateway:
        """pod-b's view: between its read and its write, pod-a takes the Lease."""

        def get_lease(self, namespace: str, name: str, *, timeout: float | None = None) -> Any:
            lease = gateway.get_lease(namespace, name, timeout=timeout)
            assert _attempt(winner)
            return lease

        def create_lease(self, *args: Any, **kwargs: Any) -> Any:
            return gateway.create_lease(*args, **kwargs)

        def replace_lease(self, *args: Any, **kwargs: Any) -> Any:
            return gateway.replace_lease(*args, **kwargs)

    loser = _elector(RacingGateway(), clock, "pod-b")
    sim.reset_requests()
    assert not _attempt(loser) and not loser.leading
    puts = [(r.method, r.status) for r in sim.requests if r.method == "PUT"]
    assert puts == [("PUT", 200), ("PUT", 409)]  # the winner's, then the loser's
    spec = _spec(sim)
    assert spec["holderIdentity"] == "pod-a" and spec["leaseTransitions"] == 1

    # The gateway's typed error for that 409 (what the elector caught).
    stale = sim.store.get(LEASES, "kubemedic", "kubemedic-leader")
    stale["metadata"]["resourceVersion"] = "1"
    with pytest.raises(Conflict) as caught:
        gateway.replace_lease("kubemedic", "kubemedic-leader", stale)
    assert "the object has been modified" in caught.value.message


def test_concurrent_create_has_one_winner(sim: KubeSim, gateway: Gateway) -> None:
    clock = FakeClock()
    a, b = _elector(gateway, clock, "pod-a"), _elector(gateway, clock, "pod-b")

    class LateCreate:
        def get_lease(self, *args: Any, **kwargs: Any) -> Any:
            return gateway.get_lease(*args, **kwargs)

        def create_lease(self, *args: Any, **kwargs: Any) -> Any:
            assert _attempt(a)  # a creates it between b's 404 and b's create
            return gateway.create_lease(*args, **kwargs)

        def replace_lease(self, *args: Any, **kwargs: Any) -> Any:
            return gateway.replace_lease(*args, **kwargs)

    b.client = LateCreate()
    assert not _attempt(b)
    assert _spec(sim)["holderIdentity"] == "pod-a"


def test_a_leader_that_cannot_renew_steps_down_at_the_renew_deadline(
    sim: KubeSim, gateway: Gateway
) -> None:
    clock = FakeClock()
    stopped: list[str] = []
    a = _elector(gateway, clock, "pod-a")
    a.on_stopped_leading = stopped.append
    assert _attempt(a)
    sim.faults.fail(100, resource="leases")
    clock.advance(2)
    assert not _attempt(a) and a.leading  # one failed renewal: still within the deadline
    clock.advance(6)
    assert not _attempt(a) and a.leading
    clock.advance(2)  # 10 s since the last renewal
    assert not _attempt(a) and not a.leading
    assert stopped and "renew deadline" in stopped[0]
    sim.faults.clear()
    # Its own unexpired record: it takes it back without a transition.
    assert _attempt(a) and a.leading and _spec(sim)["leaseTransitions"] == 0


def test_config_checks_client_go_bounds() -> None:
    with pytest.raises(ValueError):
        ElectionConfig(namespace="n", identity="x", lease_duration=10, renew_deadline=10)
    with pytest.raises(ValueError):
        ElectionConfig(namespace="n", identity="x", renew_deadline=2, retry_period=2)


def test_run_elects_one_leader_and_hands_over_on_release(sim: KubeSim, gateway: Gateway) -> None:
    """The async driver in wall time with short durations: one leader; a clean stop releases
    the Lease and the other replica takes it at its next attempt."""

    async def main() -> None:
        def config(identity: str) -> ElectionConfig:
            return ElectionConfig(
                "kubemedic", identity, lease_duration=3.0, renew_deadline=2.0, retry_period=0.2
            )

        a = LeaderElector(gateway, config("pod-a"))
        b = LeaderElector(gateway, config("pod-b"))
        stop_a, stop_b = asyncio.Event(), asyncio.Event()
        run_a = asyncio.create_task(a.run(stop_a))
        async with asyncio.timeout(30):
            while not a.leading:
                await asyncio.sleep(0.05)
        run_b = asyncio.create_task(b.run(stop_b))
        async with asyncio.timeout(30):
            while b.holder != "pod-a":
                await asyncio.sleep(0.05)
        assert a.leading and not b.leading
        stop_a.set()
        await run_a
        assert not a.leading
        assert _spec(sim)["holderIdentity"] in ("", "pod-b")
        async with asyncio.timeout(30):
            while not b.leading:
                await asyncio.sleep(0.05)
        spec = _spec(sim)
        assert spec["holderIdentity"] == "pod-b" and spec["leaseTransitions"] == 1
        stop_b.set()
        await run_b

    asyncio.run(main())
