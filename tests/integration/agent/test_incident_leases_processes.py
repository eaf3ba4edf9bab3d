"""Incident leases across real processes sharing one SQLite file.

Each worker is `python -c` with its own owner id. Every lease it is granted (open, claim,
renew) is written down with the moment of the grant as the registry's clock read it inside the
transaction, so two owners' windows for one incident can be checked for overlap afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import IO, Any

import pytest

from agent.incidents import IncidentRegistry

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
DEADLINE = 60.0  # wall seconds any one wait may take on a loaded machine

# The registry reads its clock once per call, inside the transaction: `last[0]` after a
# successful call is the moment the lease was granted.
_PRELUDE = """
import json, random, sys, time
from agent.incidents import IncidentRegistry

last = [0.0]

def clock():
    last[0] = time.time()
    return last[0]
"""

_HAMMER = (
    _PRELUDE
    + """
db, owner, out, seed, iterations, lease = sys.argv[1:7]
lease = float(lease)
registry = IncidentRegistry(db, lease_seconds=lease, clock=clock)
rng = random.Random(int(seed))
workloads = ["default/Deployment/a", "default/Deployment/b", "default/Deployment/c"]
held = set()
with open(out, "w") as log:
    def note(kind, incident_id, at):
        log.write(json.dumps({"kind": kind, "id": incident_id, "at": at}) + "\\n")

    for _ in range(int(iterations)):
        workload = rng.choice(workloads)
        incident, created = registry.open(workload, "default", "pod", owner=owner)
        if created or registry.claim(incident.id, owner):
            note("grant", incident.id, last[0])
            held.add(incident.id)
        roll = rng.random()
        if roll < 0.3 and held:
            held = registry.renew(owner)
            for incident_id in held:
                note("grant", incident_id, last[0])
        elif roll < 0.45 and held:
            incident_id = rng.choice(sorted(held))
            note("end", incident_id, time.time())  # stops acting before letting go
            registry.close(incident_id, "healed", owner)
            held.discard(incident_id)
        elif roll < 0.55 and held:
            incident_id = rng.choice(sorted(held))
            note("end", incident_id, time.time())
            registry.release(incident_id, owner)
            held.discard(incident_id)
        elif roll < 0.6:
            time.sleep(lease * 1.5)  # a stall: its leases run out meanwhile
        time.sleep(rng.uniform(0, lease / 8))
"""
)

_HOLDER = (
    _PRELUDE
    + """
db, owner, lease = sys.argv[1:4]
registry = IncidentRegistry(db, lease_seconds=float(lease), clock=clock)
incident, created = registry.open("default/Deployment/web", "default", "web-1", owner=owner)
assert created
while True:
    assert registry.renew(owner) == {incident.id}
    print(json.dumps({"id": incident.id, "expires": last[0] + float(lease)}), flush=True)
    time.sleep(0.1)
"""
)


def _python(code: str, *args: object, stdout: int | IO[Any] | None = None) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.Popen(
        [sys.executable, "-c", code, *map(str, args)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
    )


def _windows(
    logs: dict[str, list[dict[str, Any]]], lease: float
) -> dict[str, list[tuple[float, float, str]]]:
    """incident id -> (start, end, owner) of every lease granted, cut short where the owner
    stopped acting on it (close or release)."""
    windows: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    for owner, records in logs.items():
        open_windows: dict[str, list[list[float]]] = defaultdict(list)
        for record in records:
            if record["kind"] == "grant":
                open_windows[record["id"]].append([record["at"], record["at"] + lease])
            else:
                for window in open_windows[record["id"]]:
                    if window[0] <= record["at"]:
                        window[1] = min(window[1], record["at"])
        for incident_id, spans in open_windows.items():
            windows[incident_id].extend((start, end, owner) for start, end in spans)
    return windows


def test_concurrent_processes_never_hold_one_incident_at_once(tmp_path: Path) -> None:
    db = tmp_path / "incidents.sqlite"
    lease = 0.2
    IncidentRegistry(db)  # the schema exists before the workers race on it
    owners = [f"worker-{n}" for n in range(3)]
    outs = {owner: tmp_path / f"{owner}.jsonl" for owner in owners}
    procs = [
        _python(_HAMMER, db, owner, outs[owner], seed, 120, lease)
        for seed, owner in enumerate(owners)
    ]
    for proc in procs:
        _, stderr = proc.communicate(timeout=DEADLINE * 3)
        assert proc.returncode == 0, stderr

    logs = {
        owner: [json.loads(line) for line in outs[owner].read_text().splitlines()]
        for owner in owners
    }
    windows = _windows(logs, lease)
    assert windows, "no lease was ever granted"
    overlaps = []
    for incident_id, spans in windows.items():
        spans.sort()
        for i, (start, end, owner) in enumerate(spans):
            for later_start, later_end, later_owner in spans[i + 1 :]:
                if later_start >= end:
                    break
                if later_owner != owner and later_end > start:
                    overlaps.append(
                        (incident_id, (start, end, owner), (later_start, later_end, later_owner))
                    )
    assert overlaps == []
    # The race really happened: some incident passed from one owner to another.
    assert any(len({owner for _, _, owner in spans}) > 1 for spans in windows.values())
    registry = IncidentRegistry(db)
    open_workloads = [incident.workload for incident in registry.open_incidents()]
    assert len(open_workloads) == len(set(open_workloads))


def test_an_incident_of_a_killed_process_is_adopted_only_after_its_lease_expired(
    tmp_path: Path,
) -> None:
    db = tmp_path / "incidents.sqlite"
    lease = 1.0
    holder = _python(_HOLDER, db, "holder", lease, stdout=subprocess.PIPE)
    assert holder.stdout is not None
    try:
        heartbeat = json.loads(holder.stdout.readline())
        incident_id = heartbeat["id"]
        attempts: list[tuple[float, bool]] = []
        last = [0.0]

        def clock() -> float:
            last[0] = time.time()
            return last[0]

        adopter = IncidentRegistry(db, lease_seconds=lease, clock=clock)
        # Just renewed: the live holder keeps it.
        assert not adopter.claim(incident_id, "adopter")
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=DEADLINE)
        holder.stdout.close()
        assert holder.stderr is not None
        holder.stderr.close()

    left = adopter.get(incident_id)
    assert left is not None and left.owner == "holder" and left.lease_expires_at is not None
    expires = left.lease_expires_at
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        ok = adopter.claim(incident_id, "adopter")
        attempts.append((last[0], ok))
        if ok:
            break
        time.sleep(0.02)
    assert attempts and attempts[-1][1], f"not adopted within {DEADLINE}s"
    assert all(at < expires for at, ok in attempts if not ok)
    assert attempts[-1][0] >= expires
    adopted = adopter.get(incident_id)
    assert adopted is not None and adopted.owner == "adopter" and adopted.status == "open"
