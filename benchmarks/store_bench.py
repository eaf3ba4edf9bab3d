"""Intents per second through the write path's one transaction (`ledger.begin` + `finish`) on
SQLite and on PostgreSQL (a throwaway server started the way the tests start theirs, with
fsync on: durable commits cost what they cost in production)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from kubemedic_store import Database, open_database
from mcp_server.ledger import Ledger
from mcp_server.plans import Plan, PlanFacts
from policies import RateLimits

SECONDS = 3.0
LIMITS = RateLimits(
    global_per_hour=10**9, per_workload_per_hour=10**9, cooldown_per_workload_seconds=0
)


def _plan(n: int) -> Plan:
    pod = {"kind": "Pod", "namespace": "default", "name": f"web-{n}", "uid": f"u{n}"}
    return Plan(
        action="delete_pod",
        target=pod,
        pod=pod,
        workload=f"Deployment/web-{n % 50}",
        parameters={},
        facts=PlanFacts(f"u{n}", str(n), None, ("CrashLoopBackOff",)),
        risk="low",
        requires_approval=False,
        reason="bench",
    )


def intents_per_second(db: Database) -> tuple[float, int]:
    ledger = Ledger(db, owner="bench:1:1")
    ledger.save_plan(_plan(-1))  # warm: migrations, the pool, the first connection
    count = 0
    started = time.perf_counter()
    while time.perf_counter() - started < SECONDS:
        begun = ledger.begin(
            _plan(count),
            idempotency_key=f"key-{count}",
            initiator="bench",
            limits=LIMITS,
            approval_id=None,
            approval_target="",
            expected={},
        )
        ledger.finish(begun.intent.action_id, "applied", {"ok": True})
        count += 1
    return count / (time.perf_counter() - started), count


def main() -> int:
    from tests.fixtures.postgres import TempPostgres

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        rate, count = intents_per_second(open_database(Path(folder) / "state.sqlite"))
        rows.append(("sqlite (WAL, synchronous=FULL)", rate, count))
    server = TempPostgres(fsync=True).start()
    try:
        url = server.create_database()
        rate, count = intents_per_second(open_database(url))
        rows.append(("postgresql (unix socket, fsync on)", rate, count))
        server.drop_database(url)
    finally:
        server.stop()
    print("write path: ledger.begin + finish (replay check, rate-limit reservation, intent,")
    print(f"outcome: two durable transactions per intent), one writer, {SECONDS:.0f} s per backend")
    for name, rate, count in rows:
        print(f"  {name:<38} {rate:8.0f} intents/s  ({count} intents)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
