"""Leader election on a `coordination.k8s.io/v1` Lease, with client-go's semantics.

Several replicas of kubemedic may run; only the holder of the Lease (`kubemedic-leader` in the
agent's namespace by default) opens and acts on incidents. The others follow: they keep
answering reads, `/metrics`, `/healthz` and `/readyz`, and try to take the Lease every retry
period.

One attempt (`LeaderElector.try_acquire_or_renew`, client-go's `tryAcquireOrRenew` on its
LeaseLock):

1. the leader first PUTs its renewal on the Lease it last read or wrote (its
   `metadata.resourceVersion` makes the write conditional: a 409 means someone else wrote it);
2. otherwise (or after that 409) it GETs the Lease; none: it creates one naming itself;
3. a Lease held by someone else is left alone while it is valid: `renewTime +
   leaseDurationSeconds` is still in the future (an empty `holderIdentity` is free at once);
4. else it PUTs itself as the holder with the resourceVersion it just read, keeping
   `acquireTime` and `leaseTransitions` when renewing, and with `leaseTransitions + 1` and a
   new `acquireTime` on a takeover. A 409 here is a lost race: the other candidate won.

The driver (`run`) tries every `retry_period` (with client-go's jitter of 1.2 while a
candidate), and a leader whose renewals have not succeeded for `renew_deadline` steps down at
once (before anyone may take the Lease, since `renew_deadline < lease_duration`). On a clean
stop the leader releases the Lease (`holderIdentity` empty, `leaseDurationSeconds` 1), so the
next replica takes over at its next attempt rather than a lease duration later.

Times on the Lease are MicroTime (`2026-12-07T10:00:00.000000Z`). Expiry compares the
holder's `renewTime` with this replica's wall clock: replicas need clocks within a second or
two of each other (NTP), which the renew deadline's margin (5 s by default) covers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from mcp_server.gateway import Conflict, GatewayError, NotFound
from mcp_server.metrics import leader, leader_transitions_total

log = logging.getLogger(__name__)

JSON = dict[str, Any]
JITTER_FACTOR = 1.2  # client-go's JitterFactor for a candidate's retries


class LeaseClient(Protocol):
    """The gateway's Lease calls (`mcp_server.gateway.Gateway`)."""

    def get_lease(self, namespace: str, name: str, *, timeout: float | None = None) -> JSON: ...

    def create_lease(
        self, namespace: str, lease: JSON, *, timeout: float | None = None
    ) -> JSON: ...

    def replace_lease(
        self, namespace: str, name: str, lease: JSON, *, timeout: float | None = None
    ) -> JSON: ...


def default_identity() -> str:
    """The pod's name in a pod (its hostname), `hostname_pid` elsewhere: unique per process."""
    pod = os.environ.get("POD_NAME") or os.environ.get("KUBEMEDIC_POD_NAME")
    if pod:
        return pod
    return f"{socket.gethostname()}_{os.getpid()}"


def micro_time(moment: datetime) -> str:
    """MicroTime as the API server writes it: UTC, six fractional digits."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_micro_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ElectionConfig:
    namespace: str
    identity: str
    name: str = "kubemedic-leader"
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    release_on_stop: bool = True

    def __post_init__(self) -> None:
        # client-go's NewLeaderElector checks.
        if self.lease_duration <= self.renew_deadline:
            raise ValueError("the lease duration must be longer than the renew deadline")
        if self.renew_deadline <= JITTER_FACTOR * self.retry_period:
            raise ValueError("the renew deadline must be longer than 1.2 x the retry period")
        if self.retry_period <= 0:
            raise ValueError("the retry period must be above 0")
        if not self.identity:
            raise ValueError("the identity must not be empty")

    @property
    def lease_duration_seconds(self) -> int:
        return max(1, round(self.lease_duration))


@dataclass(frozen=True, slots=True)
class Record:
    """The leader election record a Lease's spec holds."""

    holder: str
    lease_duration_seconds: int
    acquire_time: datetime | None
    renew_time: datetime | None
    transitions: int

    @classmethod
    def of(cls, lease: JSON) -> Record:
        spec = lease.get("spec") or {}
        return cls(
            holder=str(spec.get("holderIdentity") or ""),
            lease_duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
            acquire_time=parse_micro_time(spec.get("acquireTime")),
            renew_time=parse_micro_time(spec.get("renewTime")),
            transitions=int(spec.get("leaseTransitions") or 0),
        )

    def spec(self) -> JSON:
        out: JSON = {
            "holderIdentity": self.holder,
            "leaseDurationSeconds": self.lease_duration_seconds,
            "leaseTransitions": self.transitions,
        }
        if self.acquire_time is not None:
            out["acquireTime"] = micro_time(self.acquire_time)
        if self.renew_time is not None:
            out["renewTime"] = micro_time(self.renew_time)
        return out

    def expired(self, now: datetime) -> bool:
        """renewTime + leaseDurationSeconds < now (no renewTime: never renewed, free)."""
        if self.renew_time is None:
            return True
        return self.renew_time + timedelta(seconds=self.lease_duration_seconds) < now


class LeaderElector:
    """One replica's view of the leader Lease. Thread-safe: each attempt holds a lock."""

    def __init__(
        self,
        client: LeaseClient,
        config: ElectionConfig,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        on_started_leading: Callable[[], None] | None = None,
        on_stopped_leading: Callable[[str], None] | None = None,
        on_new_leader: Callable[[str], None] | None = None,
    ) -> None:
        self.client = client
        self.config = config
        self._now = now
        self._monotonic = monotonic
        self.on_started_leading = on_started_leading
        self.on_stopped_leading = on_stopped_leading
        self.on_new_leader = on_new_leader
        self._lock = threading.Lock()
        self._lease: JSON | None = None  # the Lease as last read or written (resourceVersion)
        self._observed: Record | None = None
        self.leading = False
        self.last_renewed: float | None = None  # monotonic time of the last successful write
        self.holder = ""  # the holder as last seen
        self.renewals = 0  # successful writes as the holder (acquire or renew)
        leader.set(0)

    # -- one attempt ------------------------------------------------------------------------

    def _request_timeout(self) -> float:
        if self.leading and self.last_renewed is not None:
            left = self.config.renew_deadline - (self._monotonic() - self.last_renewed)
            return max(0.2, min(self.config.renew_deadline, left))
        return self.config.renew_deadline

    def _put(self, record: Record) -> bool:
        assert self._lease is not None
        metadata = self._lease.get("metadata") or {}
        body: JSON = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                key: metadata[key]
                for key in ("name", "namespace", "resourceVersion", "labels", "annotations")
                if key in metadata
            },
            "spec": record.spec(),
        }
        written = self.client.replace_lease(
            self.config.namespace, self.config.name, body, timeout=self._request_timeout()
        )
        self._lease = written
        self._observe(record)
        return True

    def _observe(self, record: Record) -> None:
        self._observed = record
        if record.holder != self.holder:
            self.holder = record.holder
            if self.on_new_leader is not None and record.holder:
                self.on_new_leader(record.holder)

    def try_acquire_or_renew(self) -> bool:
        """One attempt to take or keep the Lease; True if this replica holds it now."""
        with self._lock:
            try:
                return self._attempt()
            except GatewayError as error:
                log.info(
                    "leader election: %s/%s: %s: %s",
                    self.config.namespace,
                    self.config.name,
                    type(error).__name__,
                    error,
                )
                return False

    def _attempt(self) -> bool:
        config = self.config
        now = self._now()
        # 1. fast path: the leader renews on the Lease it wrote last.
        renewed = self._renew_fast(now)
        if renewed is not None:
            return renewed
        # 2. read (or create) the Lease.
        try:
            lease = self.client.get_lease(
                config.namespace, config.name, timeout=self._request_timeout()
            )
        except NotFound:
            return self._create(now)
        self._lease = lease
        current = Record.of(lease)
        self._observe(current)
        # 3. held by someone else and still valid: leave it.
        if current.holder and current.holder != config.identity and not current.expired(now):
            return False
        # 4. take it (or renew it), conditional on the resourceVersion just read.
        try:
            return self._put(self._claim(current, now))
        except Conflict:
            log.info("leader election: lost the race for %s/%s", config.namespace, config.name)
            return False

    def _renew_fast(self, now: datetime) -> bool | None:
        """Renew on the Lease this leader wrote last, without reading it; None when not
        leading on a Lease of ours, or when it changed under us (then it is read)."""
        config = self.config
        observed = self._observed
        if not (
            self.leading
            and self._lease is not None
            and observed is not None
            and observed.holder == config.identity
        ):
            return None
        renewal = Record(
            config.identity,
            config.lease_duration_seconds,
            observed.acquire_time,
            now,
            observed.transitions,
        )
        try:
            return self._put(renewal)
        except Conflict:
            log.info("leader election: the Lease changed under us; reading it again")
            return None

    def _create(self, now: datetime) -> bool:
        """Create the missing Lease held by us; False when another replica created it first."""
        config = self.config
        mine = Record(config.identity, config.lease_duration_seconds, now, now, 0)
        body: JSON = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": config.name, "namespace": config.namespace},
            "spec": mine.spec(),
        }
        try:
            self._lease = self.client.create_lease(
                config.namespace, body, timeout=self._request_timeout()
            )
        except Conflict:
            return False  # another replica created it first
        self._observe(mine)
        return True

    def _claim(self, current: Record, now: datetime) -> Record:
        """The record renewing our hold, or taking the Lease over (one more transition)."""
        config = self.config
        if current.holder == config.identity:
            return Record(
                config.identity,
                config.lease_duration_seconds,
                current.acquire_time or now,
                now,
                current.transitions,
            )
        return Record(
            config.identity, config.lease_duration_seconds, now, now, current.transitions + 1
        )

    def release(self) -> bool:
        """Give the Lease up (a clean stop): the next replica takes it at its next attempt."""
        with self._lock:
            observed = self._observed
            if observed is None or observed.holder != self.config.identity or self._lease is None:
                return False
            now = self._now()
            record = Record("", 1, observed.acquire_time, now, observed.transitions)
            try:
                self._put(record)
            except GatewayError as error:
                log.warning("leader election: releasing the Lease failed: %s", error)
                return False
            return True

    # -- state changes ----------------------------------------------------------------------

    def _started(self) -> None:
        self.leading = True
        leader.set(1)
        leader_transitions_total.inc()
        log.warning(
            "leader election: %s is now the leader (%s/%s)",
            self.config.identity,
            self.config.namespace,
            self.config.name,
        )
        if self.on_started_leading is not None:
            self.on_started_leading()

    def _stopped(self, why: str) -> None:
        if not self.leading:
            return
        self.leading = False
        leader.set(0)
        leader_transitions_total.inc()
        log.warning("leader election: %s stopped leading: %s", self.config.identity, why)
        if self.on_stopped_leading is not None:
            self.on_stopped_leading(why)

    def note(self, succeeded: bool) -> None:
        """Account for one attempt's result (the driver calls it after each attempt)."""
        if succeeded:
            self.last_renewed = self._monotonic()
            self.renewals += 1
            if not self.leading:
                self._started()
            return
        if self.leading and self.holder and self.holder != self.config.identity:
            self._stopped(f"the Lease is held by {self.holder} now")
        elif self.leading and self._renew_overdue():
            self._stopped(
                f"the Lease was not renewed within the renew deadline "
                f"({self.config.renew_deadline:g}s)"
            )

    def _renew_overdue(self) -> bool:
        if self.last_renewed is None:
            return True
        return self._monotonic() - self.last_renewed >= self.config.renew_deadline

    # -- the driver -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Acquire, renew, step down, retry: until `stop` is set; then release if leading."""
        config = self.config
        try:
            while not stop.is_set():
                attempt = asyncio.ensure_future(asyncio.to_thread(self.try_acquire_or_renew))
                budget = None
                if self.leading and self.last_renewed is not None:
                    budget = max(
                        0.0, config.renew_deadline - (self._monotonic() - self.last_renewed)
                    )
                done, _ = await asyncio.wait({attempt}, timeout=budget)
                if attempt in done:
                    self.note(attempt.result())
                else:
                    # The request hangs past the deadline: step down now; the attempt ends on
                    # its own request timeout (and its result is for the next round).
                    self.note(False)
                    with contextlib.suppress(Exception):
                        await attempt
                if self.leading:
                    wait = config.retry_period
                else:
                    wait = config.retry_period * (1 + random.random() * JITTER_FACTOR)  # noqa: S311
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=wait)
        finally:
            if self.leading:
                if config.release_on_stop:
                    with contextlib.suppress(Exception):
                        await asyncio.to_thread(self.release)
                self._stopped("stopped")
