"""Incidents held by one process at a time: leases on the registry with a clock the tests move,
and the watch loop adopting, renewing, losing and releasing them."""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.incidents import IncidentRegistry, new_owner_id
from agent.runner import IncidentStatus
from agent.tools import R, parse_result
from agent.watch import WatchEvent, WatchSettings, _Watch, run_watch
from policies import policy_from_dict
from tests.unit.agent.scripted import unhealthy_pod
from tests.unit.agent.test_watch import session_for, two_pods_one_workload
from tests.unit.agent.test_watch import settings as watch_settings

pytestmark = pytest.mark.anyio

WEB = "default/Deployment/web"
LEASE = 30.0


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def registry(store_target: Path | str, clock: Clock) -> IncidentRegistry:
    """The registry on SQLite and on PostgreSQL: every registry test runs on both."""
    return IncidentRegistry(store_target, lease_seconds=LEASE, clock=clock)


# -- the registry ------------------------------------------------------------------------------


def test_owner_ids_differ_per_call() -> None:
    assert new_owner_id() != new_owner_id()


def test_open_gives_the_caller_a_lease(registry: IncidentRegistry, clock: Clock) -> None:
    incident, created = registry.open(WEB, "default", "web-1", owner="a")
    assert created
    assert incident.owner == "a" and incident.lease_expires_at == clock.now + LEASE
    stored = registry.get(incident.id)
    assert stored is not None
    assert (stored.owner, stored.lease_expires_at) == ("a", clock.now + LEASE)


def test_open_returns_the_open_incident_without_taking_it(registry: IncidentRegistry) -> None:
    first, _ = registry.open(WEB, "default", "web-1", owner="a")
    again, created = registry.open(WEB, "default", "web-2", owner="b")
    assert not created and again.id == first.id and again.owner == "a"
    stored = registry.get(first.id)
    assert stored is not None and stored.owner == "a"


def test_a_second_owner_claims_only_after_the_lease_expired(
    registry: IncidentRegistry, clock: Clock
) -> None:
    incident, _ = registry.open(WEB, "default", "web-1", owner="a")
    clock.advance(LEASE - 0.001)
    assert not registry.claim(incident.id, "b")
    clock.advance(0.001)
    assert registry.claim(incident.id, "b")
    stored = registry.get(incident.id)
    assert stored is not None
    assert (stored.owner, stored.lease_expires_at) == ("b", clock.now + LEASE)
    # The former holder has lost it: no claim back while b's lease lives, no renewal, no close.
    assert not registry.claim(incident.id, "a")
    assert registry.renew("a") == set()
    assert not registry.close(incident.id, "healed", "a")


def test_a_new_leader_takes_a_live_incident_at_once(
    registry: IncidentRegistry, clock: Clock
) -> None:
    incident, _ = registry.open(WEB, "default", "web-1", owner="old-leader")
    clock.advance(1.0)
    assert not registry.claim(incident.id, "new-leader")  # its lease still runs
    assert registry.claim(incident.id, "new-leader", leader=True)
    stored = registry.get(incident.id)
    assert stored is not None and stored.owner == "new-leader"
    assert registry.renew("old-leader") == set()
    registry.close(incident.id, "healed", "new-leader")
    assert not registry.claim(incident.id, "other", leader=True)  # closed stays closed


def test_the_holder_claims_again_and_an_unowned_incident_goes_to_the_first_claimer(
    registry: IncidentRegistry, clock: Clock
) -> None:
    held, _ = registry.open(WEB, "default", "web-1", owner="a")
    clock.advance(10)
    assert registry.claim(held.id, "a")
    stored = registry.get(held.id)
    assert stored is not None and stored.lease_expires_at == clock.now + LEASE

    free, created = registry.open("default/Deployment/api", "default", "api-1")
    assert created and free.owner is None and free.lease_expires_at is None
    assert registry.claim(free.id, "b")
    assert not registry.claim(free.id, "c")


def test_renew_keeps_the_lease_alive(registry: IncidentRegistry, clock: Clock) -> None:
    one, _ = registry.open(WEB, "default", "web-1", owner="a")
    two, _ = registry.open("default/Deployment/api", "default", "api-1", owner="a")
    other, _ = registry.open("default/Deployment/db", "default", "db-1", owner="b")
    for _ in range(5):
        clock.advance(LEASE * 0.9)
        assert registry.renew("a") == {one.id, two.id}
        assert not registry.claim(one.id, "b")
    assert registry.claim(other.id, "a")  # b never renewed


def test_renew_after_expiry_keeps_what_nobody_took(
    registry: IncidentRegistry, clock: Clock
) -> None:
    incident, _ = registry.open(WEB, "default", "web-1", owner="a")
    clock.advance(LEASE * 2)  # a stalled; nobody claimed meanwhile
    assert registry.renew("a") == {incident.id}
    assert not registry.claim(incident.id, "b")


def test_release_lets_another_claim_at_once(registry: IncidentRegistry) -> None:
    incident, _ = registry.open(WEB, "default", "web-1", owner="a")
    assert not registry.release(incident.id, "b")  # not b's to give up
    assert registry.release(incident.id, "a")
    stored = registry.get(incident.id)
    assert stored is not None and stored.owner is None and stored.status == "open"
    assert registry.claim(incident.id, "b")


def test_close_only_by_the_holder_or_without_an_owner(registry: IncidentRegistry) -> None:
    incident, _ = registry.open(WEB, "default", "web-1", owner="a")
    assert not registry.close(incident.id, "healed", "b")
    assert registry.close(incident.id, "healed", "a")
    assert not registry.close(incident.id, "healed", "a")  # once
    stored = registry.get(incident.id)
    assert stored is not None and stored.status == "closed" and stored.outcome == "healed"
    assert not registry.claim(incident.id, "a")
    assert registry.renew("a") == set()

    # The `approvals` command ends the incident it resumed whoever holds it.
    held, _ = registry.open(WEB, "default", "web-2", owner="b")
    assert registry.close(held.id, "rejected")
    assert registry.open_incidents() == []


def test_one_open_incident_per_workload_still_holds(
    registry: IncidentRegistry, clock: Clock
) -> None:
    first, _ = registry.open(WEB, "default", "web-1", owner="a")
    clock.advance(LEASE * 3)  # an expired lease does not free the workload for a new incident
    again, created = registry.open(WEB, "default", "web-2", owner="b")
    assert not created and again.id == first.id
    assert registry.claim(first.id, "b")
    assert registry.close(first.id, "healed", "b")
    third, created = registry.open(WEB, "default", "web-3", owner="a")
    assert created and third.id != first.id
    with pytest.raises((sqlite3.IntegrityError, psycopg.IntegrityError)):
        with registry.db.write("incidents") as db:
            db.execute(
                "INSERT INTO incidents (id, workload, namespace, pod_name, status, opened_at) "
                "VALUES ('x', ?, 'default', 'web-4', 'open', '2024-01-01T00:00:00Z')",
                (WEB,),
            )


def test_claimable_says_what_claim_would_do(registry: IncidentRegistry, clock: Clock) -> None:
    incident, _ = registry.open(WEB, "default", "web-1", owner="a")
    assert registry.claimable(incident, "a")
    assert not registry.claimable(incident, "b")
    clock.advance(LEASE)
    assert registry.claimable(incident, "b")


def test_a_database_from_before_leases_is_migrated(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "incidents.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE incidents (
            id TEXT PRIMARY KEY, workload TEXT NOT NULL, namespace TEXT NOT NULL,
            pod_name TEXT NOT NULL, issue_type TEXT,
            status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
            outcome TEXT, opened_at TEXT NOT NULL, closed_at TEXT
        );
        CREATE UNIQUE INDEX incidents_one_open_per_workload
            ON incidents(workload) WHERE status = 'open';
        INSERT INTO incidents (id, workload, namespace, pod_name, status, opened_at)
            VALUES ('inc-old', 'default/Deployment/web', 'default', 'web-1', 'open',
                    '2024-01-01T00:00:00.000Z');
        """
    )
    db.commit()
    db.close()

    registry = IncidentRegistry(path, clock=clock)
    IncidentRegistry(path, clock=clock)  # a second open finds the columns there
    (old,) = registry.open_incidents()
    assert old.id == "inc-old" and old.owner is None and old.lease_expires_at is None
    assert registry.claim("inc-old", "a")
    assert not registry.claim("inc-old", "b")
    assert registry.close("inc-old", "healed", "a")


def test_lease_seconds_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="lease_seconds"):
        IncidentRegistry(tmp_path / "incidents.sqlite", lease_seconds=0)


_OWNERS = st.sampled_from(["a", "b", "c"])
_STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("claim"), _OWNERS),
        st.tuples(st.just("renew"), _OWNERS),
        st.tuples(st.just("release"), _OWNERS),
        st.tuples(st.just("advance"), st.sampled_from([1.0, 5.0, 9.0, 10.0, 25.0])),
    ),
    max_size=25,
)


@settings(max_examples=60, deadline=None)
@given(steps=_STEPS)
def test_claim_renew_and_expiry_follow_the_lease_rules(steps: list[tuple[str, Any]]) -> None:
    lease = 10.0
    clock = Clock()
    with tempfile.TemporaryDirectory() as tmp:
        registry = IncidentRegistry(Path(tmp) / "i.sqlite", lease_seconds=lease, clock=clock)
        incident, _ = registry.open(WEB, "default", "web-1", owner="a")
        owner: str | None = "a"
        expires: float | None = clock.now + lease
        for step, arg in steps:
            if step == "advance":
                clock.advance(arg)
            elif step == "claim":
                free = owner is None or owner == arg or expires is None or expires <= clock.now
                assert registry.claim(incident.id, arg) == free
                if free:
                    owner, expires = arg, clock.now + lease
            elif step == "renew":
                held = registry.renew(arg)
                assert held == ({incident.id} if owner == arg else set())
                if owner == arg:
                    expires = clock.now + lease
            else:
                assert registry.release(incident.id, arg) == (owner == arg)
                if owner == arg:
                    owner, expires = None, None
            stored = registry.get(incident.id)
            assert stored is not None
            assert (stored.owner, stored.lease_expires_at) == (owner, expires)
            # At most one live holder: nobody else can take it while the lease lives.
            for other in ("a", "b", "c"):
                if owner is not None and other != owner and expires is not None:
                    assert registry.claimable(stored, other) == (expires <= clock.now)


# -- the watch loop ----------------------------------------------------------------------------


class FakeToolbox:
    def __init__(self, pods: list[dict[str, Any]]) -> None:
        self.pods = pods

    async def call(self, name: str, **arguments: Any) -> dict[str, Any]:
        return {"success": True, "pods": self.pods}

    async def typed(self, name: str, result_type: type[R], **arguments: Any) -> R:
        return parse_result(name, await self.call(name, **arguments), result_type)


class FakeRunner:
    """Threads that never end by themselves unless `release` is set; a status per incident."""

    def __init__(self) -> None:
        self.statuses: dict[str, IncidentStatus] = {}
        self.started: list[str] = []
        self.release = asyncio.Event()

    async def status(self, incident_id: str) -> IncidentStatus:
        return self.statuses.get(incident_id, IncidentStatus(incident_id))

    async def start(self, incident_id: str, *args: Any, **kwargs: Any) -> IncidentStatus:
        self.started.append(incident_id)
        await self.release.wait()
        return _reported(incident_id)

    async def proceed(self, incident_id: str, **kwargs: Any) -> IncidentStatus:
        return await self.start(incident_id)


def _reported(incident_id: str) -> IncidentStatus:
    return IncidentStatus(
        incident_id,
        values={"outcome": "healed", "timeline": [{"node": "report"}]},
    )


def _waiting(incident_id: str) -> IncidentStatus:
    return IncidentStatus(
        incident_id, values={"timeline": []}, next=("approve",), pending={"approval_id": "ap-1"}
    )


def _pod(name: str = "web-5d8f7-aaaaa") -> dict[str, Any]:
    return unhealthy_pod(name)


def make_watch(
    registry: IncidentRegistry, runner: FakeRunner, events: list[WatchEvent], owner: str = "me"
) -> _Watch:
    state_dir = registry.path.parent if registry.path is not None else Path(tempfile.gettempdir())
    settings = WatchSettings(state_dir=state_dir, policy=policy_from_dict({}))
    return _Watch(
        FakeToolbox([_pod()]),  # type: ignore[arg-type]
        settings,
        runner,  # type: ignore[arg-type]
        registry,
        events.append,
        None,
        owner=owner,
    )


class CountingRegistry(IncidentRegistry):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.opens = 0

    def open(self, *args: Any, **kwargs: Any) -> Any:
        self.opens += 1
        return super().open(*args, **kwargs)


async def _settle(watch: _Watch) -> None:
    tasks = [t for t in watch.tasks.values() if not t.done()]
    if tasks:
        await asyncio.wait(tasks, timeout=5)


async def test_recover_leaves_a_live_incident_of_another_process_then_adopts_it_after_expiry(
    tmp_path: Path, clock: Clock
) -> None:
    registry = CountingRegistry(tmp_path / "incidents.sqlite", lease_seconds=LEASE, clock=clock)
    incident, _ = registry.open(WEB, "default", "web-1", owner="other")
    runner, events = FakeRunner(), list[WatchEvent]()
    watch = make_watch(registry, runner, events)

    await watch.recover()
    assert watch.held == {} and runner.started == [] and watch.elsewhere == {WEB}
    opens = registry.opens
    assert await watch.poll() == 0
    assert registry.opens == opens  # held elsewhere: the pod costs no transaction

    clock.advance(LEASE)
    await watch.adopt()
    assert list(watch.held) == [incident.id]
    await asyncio.sleep(0)
    assert runner.started == [incident.id]
    stored = registry.get(incident.id)
    assert stored is not None and stored.owner == "me"
    runner.release.set()
    await _settle(watch)
    closed = registry.get(incident.id)
    assert closed is not None and closed.status == "closed" and closed.outcome == "healed"
    assert [e.kind for e in events if e.incident_id == incident.id] == ["closed"]


async def test_poll_opens_once_and_then_skips_the_workload_without_the_database(
    tmp_path: Path, clock: Clock
) -> None:
    registry = CountingRegistry(tmp_path / "incidents.sqlite", lease_seconds=LEASE, clock=clock)
    runner, events = FakeRunner(), list[WatchEvent]()
    watch = make_watch(registry, runner, events)
    watch.poller.toolbox = FakeToolbox([_pod("web-5d8f7-aaaaa"), _pod("web-5d8f7-bbbbb")])  # type: ignore[assignment]
    assert await watch.poll() == 1
    assert registry.opens == 1
    for _ in range(3):
        assert await watch.poll() == 0
    assert registry.opens == 1
    (incident,) = registry.open_incidents()
    assert incident.owner == "me"
    runner.release.set()
    await _settle(watch)


async def test_an_incident_taken_over_is_no_longer_driven_here(
    tmp_path: Path, clock: Clock
) -> None:
    registry = IncidentRegistry(tmp_path / "incidents.sqlite", lease_seconds=LEASE, clock=clock)
    runner, events = FakeRunner(), list[WatchEvent]()
    watch = make_watch(registry, runner, events)
    await watch.poll()
    (incident_id,) = watch.held
    await asyncio.sleep(0)
    task = watch.tasks[incident_id]
    assert not task.done()

    clock.advance(LEASE)  # this process stalled past its lease; another took the incident
    assert registry.claim(incident_id, "other")
    await watch.renew()
    await asyncio.wait([task], timeout=5)
    assert task.cancelled()
    assert watch.held == {} and WEB in watch.elsewhere
    stored = registry.get(incident_id)
    assert stored is not None and stored.status == "open" and stored.owner == "other"
    assert not any(e.kind == "closed" for e in events)


async def test_a_lost_incident_is_not_closed_by_the_process_that_lost_it(
    tmp_path: Path, clock: Clock
) -> None:
    registry = IncidentRegistry(tmp_path / "incidents.sqlite", lease_seconds=LEASE, clock=clock)
    runner, events = FakeRunner(), list[WatchEvent]()
    watch = make_watch(registry, runner, events)
    await watch.poll()
    (incident_id,) = watch.held
    clock.advance(LEASE)
    assert registry.claim(incident_id, "other")
    runner.release.set()  # the run ends before a heartbeat noticed the loss
    await _settle(watch)
    stored = registry.get(incident_id)
    assert stored is not None and stored.status == "open" and stored.owner == "other"
    assert not any(e.kind == "closed" for e in events)


async def test_an_incident_waiting_for_a_human_keeps_its_lease(
    tmp_path: Path, clock: Clock
) -> None:
    registry = IncidentRegistry(tmp_path / "incidents.sqlite", lease_seconds=LEASE, clock=clock)
    incident, _ = registry.open(WEB, "default", "web-1")  # released by a stopped process
    runner, events = FakeRunner(), list[WatchEvent]()
    runner.statuses[incident.id] = _waiting(incident.id)
    watch = make_watch(registry, runner, events)
    await watch.recover()
    assert incident.id in watch.waiting and incident.id in watch.held
    assert [e.kind for e in events] == ["approval_pending"]
    for _ in range(4):
        clock.advance(LEASE / 3)
        await watch.renew()
        assert not registry.claim(incident.id, "other")

    # Approved and ended by `kubemedic approvals approve` in another process.
    runner.statuses[incident.id] = _reported(incident.id)
    assert registry.close(incident.id, "healed")
    await watch.renew()
    assert watch.held == {}
    await watch.check_waiting()
    assert [e.kind for e in events] == ["approval_pending", "closed"]
    assert watch.waiting == set()


async def test_a_stopping_loop_releases_its_waiting_incident(tmp_path: Path) -> None:
    cluster = two_pods_one_workload()
    events: list[WatchEvent] = []
    async with session_for(cluster) as session:
        summary = await run_watch(
            session, watch_settings(tmp_path, max_polls=2), on_event=events.append
        )
    (report,) = summary.incidents
    assert report.outcome is None  # waits for a human
    stored = IncidentRegistry(tmp_path / "incidents.sqlite").get(report.incident_id)
    assert stored is not None and stored.status == "open"
    assert stored.owner is None and stored.lease_expires_at is None


async def test_the_heartbeat_renews_in_wall_time(tmp_path: Path) -> None:
    registry = IncidentRegistry(tmp_path / "incidents.sqlite", lease_seconds=0.3)
    runner, events = FakeRunner(), list[WatchEvent]()
    watch = make_watch(registry, runner, events)
    await watch.poll()
    (incident_id,) = watch.held
    first = registry.get(incident_id)
    assert first is not None and first.lease_expires_at is not None
    heartbeat = asyncio.create_task(watch.heartbeat())
    try:
        async with asyncio.timeout(10):
            while True:
                await asyncio.sleep(0.02)
                current = registry.get(incident_id)
                assert current is not None and current.lease_expires_at is not None
                if current.lease_expires_at > first.lease_expires_at:
                    break
    finally:
        heartbeat.cancel()
        runner.release.set()
        await _settle(watch)


def test_the_lease_length_is_a_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kubemedic.agent_runtime import watch_settings
    from kubemedic.settings import Settings

    monkeypatch.setenv("KUBEMEDIC_INCIDENT_LEASE_SECONDS", "12")
    chosen = watch_settings(Settings(state_dir=tmp_path))
    assert chosen.lease_seconds == 12.0
