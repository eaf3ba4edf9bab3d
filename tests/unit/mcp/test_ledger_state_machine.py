"""The write ledger as a state machine: plans, approvals and intents shared by two processes.

Two `Ledger`s with different owners (on another host, so only the write lease tells whether
an owner is gone) and an `ApprovalStore` use one SQLite file. Processes execute plans and
finish them, or crash before or after the write; a crashed process restarts once its lease
has expired and reconciles its orphans the way mcp_server.reconcile does, deciding from the
model whether the write reached the cluster. Every answer is predicted by a model, and after
every step the database must agree with it and keep the promises of the write path.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from kubemedic_store import Row, open_database
from mcp_server import ledger as ledger_module
from mcp_server.approvals import (
    ApprovalAlreadyUsed,
    ApprovalError,
    ApprovalExpired,
    ApprovalMismatch,
    ApprovalNotGranted,
    ApprovalStore,
    target_key,
)
from mcp_server.config import STATE_DB
from mcp_server.ledger import Begun, Ledger, Replayed
from mcp_server.plans import Plan, PlanFacts
from policies import RateLimitExceeded, RateLimits

HOUR = 3600.0
LEASE = 300.0
APPROVAL_TTL = 3 * HOUR
START = 1_700_000_000.0
LIMITS = RateLimits(global_per_hour=4, per_workload_per_hour=3, cooldown_per_workload_seconds=60)
# Hosts that are never this one: an owner's liveness is its lease.
HOSTS = {"A": "node-a.kubemedic.invalid", "B": "node-b.kubemedic.invalid"}
KEYS = tuple(f"key-{n}" for n in range(1, 9))
# pod, its workload, the Deployment behind it
PODS = (("web-1", "web"), ("web-2", "web"), ("api-1", "api"))

End = Literal["applied", "not_applied", "crash_before_write", "crash_after_write"]
Proc = Literal["A", "B"]


@dataclass
class ModelIntent:
    action_id: str
    key: str
    plan_id: str
    namespace: str
    workload: str
    action: str
    approval_id: str | None
    owner: str
    created_at: float
    lease_expires_at: float
    outcome: str | None = None
    # Did the write reach the cluster? What reconciliation reads from it.
    happened: bool = False

    @property
    def reserved(self) -> bool:
        return self.outcome != "not_applied"


@dataclass
class ModelApproval:
    id: str
    action: str
    target: str
    plan_id: str
    status: str
    expires_at: float


def _plan(pod: str, workload: str, action: str, version: str) -> Plan:
    uid = f"uid-{pod}"
    if action == "delete_pod":
        target = {"kind": "Pod", "namespace": "default", "name": pod, "uid": uid}
        parameters: dict[str, Any] = {}
    else:
        target = {"kind": "Deployment", "namespace": "default", "name": workload, "uid": "d"}
        parameters = {"container": "app", "memory_limit_bytes": 256 * 2**20}
    return Plan(
        action=action,
        target=target,
        pod={"namespace": "default", "name": pod, "uid": uid},
        workload=f"Deployment/{workload}",
        parameters=parameters,
        facts=PlanFacts(
            pod_uid=uid,
            pod_resource_version=version,
            workload_generation=None if action == "delete_pod" else 1,
            issue_types=("CrashLoopBackOff",),
        ),
        risk="low",
        requires_approval=True,
        reason="test",
        created_at=START,
    )


plans_strategy = st.builds(
    lambda pod, action, version: _plan(pod[0], pod[1], action, version),
    st.sampled_from(PODS),
    st.sampled_from(("delete_pod", "increase_memory_limit")),
    st.sampled_from(("1", "2")),
)


def _approval_target(plan: Plan) -> str:
    return target_key(
        str(plan.target["kind"]), str(plan.target["namespace"]), str(plan.target["name"])
    )


procs = st.sampled_from(("A", "B"))
keys = st.sampled_from(KEYS)
ends = st.sampled_from(("applied", "not_applied", "crash_before_write", "crash_after_write"))


class LedgerMachine(RuleBasedStateMachine):
    plans = Bundle("plans")
    approvals = Bundle("approvals")

    def __init__(self) -> None:
        super().__init__()
        self._dir = tempfile.TemporaryDirectory(
            # Memory-backed when there is one: every commit fsyncs, which is slow on disk.
            dir="/dev/shm" if os.path.isdir("/dev/shm") else None
        )
        self.path: Path | str = self._target()
        self.now = START
        self.generation = {"A": 1, "B": 1}
        self.alive = {"A": True, "B": True}
        self.ledgers = {proc: self._ledger(proc) for proc in ("A", "B")}
        self.store = ApprovalStore(self.path, ttl_seconds=APPROVAL_TTL, clock=self.clock)
        self.intents: dict[str, ModelIntent] = {}
        self.model_approvals: dict[str, ModelApproval] = {}
        self.plan_bodies: dict[str, Plan] = {}

    def _target(self) -> Path | str:
        return Path(self._dir.name) / STATE_DB

    def teardown(self) -> None:
        self._dir.cleanup()

    def clock(self) -> float:
        return self.now

    def _ledger(self, proc: str) -> Ledger:
        owner = f"{HOSTS[proc]}:{100 + ord(proc)}:{self.generation[proc]}"
        return Ledger(self.path, clock=self.clock, owner=owner, write_lease_seconds=LEASE)

    # -- the model's predictions --------------------------------------------------------------

    def _effective(self, approval: ModelApproval) -> str:
        if approval.status in ("pending", "granted") and approval.expires_at <= self.now:
            return "expired"
        return approval.status

    def _predict_begin(
        self, plan: Plan, key: str, approval_id: str | None
    ) -> ModelIntent | type[Exception] | None:
        """The intent replayed, the exception raised, or None: a new intent is begun."""
        for intent in self.intents.values():
            if intent.key == key:
                return intent
        same_plan = [
            i
            for i in self.intents.values()
            if i.plan_id == plan.plan_id and i.outcome in (None, "applied")
        ]
        if same_plan:
            return min(same_plan, key=lambda i: i.created_at)
        counted = [i for i in self.intents.values() if i.reserved]
        recent = [i for i in counted if i.created_at >= self.now - HOUR]
        if len(recent) >= LIMITS.global_per_hour:
            return RateLimitExceeded
        mine = [i for i in recent if (i.namespace, i.workload) == (plan.namespace, plan.workload)]
        if len(mine) >= LIMITS.per_workload_per_hour:
            return RateLimitExceeded
        last = [
            i.created_at
            for i in counted
            if (i.namespace, i.workload, i.action) == (plan.namespace, plan.workload, plan.action)
        ]
        if last and self.now - max(last) < LIMITS.cooldown_per_workload_seconds:
            return RateLimitExceeded
        if approval_id is None:
            return None
        approval = self.model_approvals[approval_id]
        if approval.action != plan.action or approval.target != _approval_target(plan):
            return ApprovalMismatch
        if approval.plan_id != plan.plan_id:
            return ApprovalMismatch
        status = self._effective(approval)
        if status == "consumed":
            return ApprovalAlreadyUsed
        if status == "expired":
            return ApprovalExpired
        if status != "granted":
            return ApprovalNotGranted
        return None

    def _orphans(self, proc: str) -> list[ModelIntent]:
        owner = self.ledgers[proc].owner
        return [
            i
            for i in self.intents.values()
            if i.outcome is None and i.owner != owner and i.lease_expires_at <= self.now
        ]

    # -- rules --------------------------------------------------------------------------------

    @initialize()
    def empty(self) -> None:
        assert self.ledgers["A"].intents() == []

    @rule(target=plans, plan=plans_strategy)
    def make_plan(self, plan: Plan) -> Plan:
        ledger = self.ledgers["A" if self.alive["A"] else "B"]
        assert ledger.save_plan(plan) == plan.plan_id
        stored = ledger.plan(plan.plan_id)
        assert stored is not None and stored.plan_id == plan.plan_id
        self.plan_bodies[plan.plan_id] = plan
        return plan

    @rule(target=approvals, plan=plans)
    def request_approval(self, plan: Plan) -> str:
        return self._request(plan)

    def _request(self, plan: Plan) -> str:
        target = _approval_target(plan)
        pending = [
            a
            for a in self.model_approvals.values()
            if (a.action, a.target) == (plan.action, target) and self._effective(a) == "pending"
        ]
        assert len(pending) <= 1  # each request supersedes the pending one of another plan
        approval = self.store.request(
            plan.action,
            target,
            reason="test",
            requested_by="agent",
            details={"plan_id": plan.plan_id},
        )
        assert approval.status == "pending"
        assert approval.details["plan_id"] == plan.plan_id
        if pending and pending[0].plan_id == plan.plan_id:
            assert approval.id == pending[0].id  # the open one is reused
        else:
            assert approval.id not in self.model_approvals
            for old in pending:
                old.status = "expired"
            self.model_approvals[approval.id] = ModelApproval(
                approval.id, plan.action, target, plan.plan_id, "pending", approval.expires_at
            )
        return approval.id

    @rule(approval_id=approvals)
    def grant(self, approval_id: str) -> None:
        self._grant(approval_id)

    def _grant(self, approval_id: str) -> None:
        approval = self.model_approvals[approval_id]
        status = self._effective(approval)
        try:
            granted = self.store.grant(approval_id, by="alice")
        except ApprovalExpired:
            assert status == "expired"
        except ApprovalError:
            assert status not in ("pending", "expired")
        else:
            assert status == "pending" and granted.status == "granted"
            approval.status = "granted"

    @rule(seconds=st.sampled_from((1.0, 30.0, 61.0, 200.0, LEASE + 1, 1000.0, HOUR)))
    def advance(self, seconds: float) -> None:
        self.now += seconds

    @rule(target=approvals, plan=plans)
    def request_and_grant(self, plan: Plan) -> str:
        approval_id = self._request(plan)
        self._grant(approval_id)
        return approval_id

    @precondition(lambda self: any(self.alive.values()))
    @rule(proc=procs, plan=plans, key=keys, end=ends)
    def execute_forced(self, proc: Proc, plan: Plan, key: str, end: End) -> None:
        self._execute(proc, plan, None, key, end)

    @precondition(lambda self: any(self.alive.values()))
    @rule(
        proc=procs,
        approval_id=approvals,
        plan=st.none() | plans,
        key=keys,
        end=ends,
    )
    def execute_approved(
        self, proc: Proc, approval_id: str, plan: Plan | None, key: str, end: End
    ) -> None:
        """With the plan the approval was asked for, or (sometimes) any other plan."""
        if plan is None:
            plan = self.plan_bodies[self.model_approvals[approval_id].plan_id]
        self._execute(proc, plan, approval_id, key, end)

    def _execute(self, proc: Proc, plan: Plan, approval_id: str | None, key: str, end: End) -> None:
        if not self.alive[proc]:
            proc = "B" if proc == "A" else "A"
        ledger = self.ledgers[proc]
        predicted = self._predict_begin(plan, key, approval_id)
        try:
            begun = ledger.begin(
                plan,
                idempotency_key=key,
                initiator="agent",
                limits=LIMITS,
                approval_id=approval_id,
                approval_target=_approval_target(plan),
                expected={},
            )
        except (RateLimitExceeded, ApprovalError) as error:
            event(f"begin: {type(error).__name__}")
            assert isinstance(predicted, type) and isinstance(error, predicted), (error, predicted)
            return
        if isinstance(begun, Replayed):
            event(f"begin: replayed an intent that is {begun.intent.outcome or 'open'}")
            assert isinstance(predicted, ModelIntent), (begun, predicted)
            assert begun.intent.action_id == predicted.action_id
            assert begun.intent.outcome == predicted.outcome
            return
        assert isinstance(begun, Begun) and predicted is None, (begun, predicted)
        intent = begun.intent
        event(f"begin: {'approved' if approval_id else 'forced'} intent, then {end}")
        assert intent.owner == ledger.owner and intent.outcome is None
        if approval_id is not None:
            assert begun.approval is not None and begun.approval.status == "consumed"
            self.model_approvals[approval_id].status = "consumed"
        self.intents[intent.action_id] = ModelIntent(
            action_id=intent.action_id,
            key=key,
            plan_id=plan.plan_id,
            namespace=plan.namespace,
            workload=plan.workload,
            action=plan.action,
            approval_id=approval_id,
            owner=ledger.owner,
            created_at=self.now,
            lease_expires_at=self.now + LEASE,
        )
        model = self.intents[intent.action_id]
        if end in ("applied", "not_applied"):
            assert ledger.finish(intent.action_id, end, {"end": end})
            model.outcome = end
            model.happened = end == "applied"
            # A second outcome is refused, by either process.
            assert not self.ledgers["A" if proc == "B" else "B"].finish(
                intent.action_id, "applied", {}
            )
        else:
            model.happened = end == "crash_after_write"
            self.alive[proc] = False

    @precondition(lambda self: not all(self.alive.values()))
    @rule(proc=procs)
    def restart(self, proc: Proc) -> None:
        """The dead process starts again (a new owner) once the lease has run out."""
        if self.alive[proc]:
            proc = "B" if proc == "A" else "A"
        dead = self.ledgers[proc].owner
        leases = [i.lease_expires_at for i in self.intents.values() if i.outcome is None]
        self.now = max([self.now, *leases]) + 1
        self.generation[proc] += 1
        self.ledgers[proc] = self._ledger(proc)
        self.alive[proc] = True
        assert self.ledgers[proc].owner != dead
        self._reconcile(proc)

    @precondition(lambda self: any(self.alive.values()))
    @rule(proc=procs)
    def reconcile_live(self, proc: Proc) -> None:
        """What every write does first: reconcile the orphans there are now, if any."""
        if not self.alive[proc]:
            proc = "B" if proc == "A" else "A"
        self._reconcile(proc)

    def _reconcile(self, proc: str) -> None:
        ledger = self.ledgers[proc]
        orphans = ledger.orphans()
        expected = self._orphans(proc)
        assert {i.action_id for i in orphans} == {i.action_id for i in expected}
        for orphan in orphans:
            model = self.intents[orphan.action_id]
            assert ledger.adopt(orphan)
            assert not ledger.adopt(orphan)  # the owner changed: nobody adopts it twice
            model.owner = ledger.owner
            model.lease_expires_at = self.now + LEASE
            outcome: Literal["applied", "not_applied"] = (
                "applied" if model.happened else "not_applied"
            )
            assert ledger.finish(
                orphan.action_id,
                outcome,
                {"recovered": True},
                restore_approval=not model.happened,
            )
            model.outcome = outcome
            event(f"reconciled: {outcome}" + (" (approval)" if model.approval_id else ""))
            if not model.happened and model.approval_id is not None:
                approval = self.model_approvals[model.approval_id]
                if approval.status == "consumed":
                    approval.status = "granted"

    # -- invariants ---------------------------------------------------------------------------

    @invariant()
    def the_database_keeps_the_promises(self) -> None:
        # One read of the three tables per step, checked against the model.
        with open_database(self.path).read() as db:
            intents = db.execute("SELECT * FROM intents").all()
            approvals = db.execute("SELECT * FROM approvals").all()
            actions = db.execute("SELECT * FROM actions").all()
        self._intents_match_the_model(intents)
        self._a_plan_is_applied_at_most_once(intents)
        self._an_approval_backs_at_most_one_write(intents, approvals)
        self._reservations_are_the_writes_that_may_have_happened(intents, actions)

    def _intents_match_the_model(self, intents: list[Row]) -> None:
        assert {row["action_id"]: row["outcome"] for row in intents} == {
            a: m.outcome for a, m in self.intents.items()
        }
        keys = Counter(row["idempotency_key"] for row in intents)
        assert all(n == 1 for n in keys.values()), keys  # no key names two intents
        for row in intents:
            model = self.intents[row["action_id"]]
            assert (row["idempotency_key"], row["plan_id"], row["approval_id"], row["owner"]) == (
                model.key,
                model.plan_id,
                model.approval_id,
                model.owner,
            )

    def _a_plan_is_applied_at_most_once(self, intents: list[Row]) -> None:
        applied = Counter(row["plan_id"] for row in intents if row["outcome"] == "applied")
        assert all(n <= 1 for n in applied.values()), applied
        live = Counter(row["plan_id"] for row in intents if row["outcome"] != "not_applied")
        assert all(n <= 1 for n in live.values()), live
        # And in the cluster: no plan's write happened twice.
        happened = Counter(m.plan_id for m in self.intents.values() if m.happened)
        assert all(n <= 1 for n in happened.values()), happened

    def _an_approval_backs_at_most_one_write(
        self, intents: list[Row], approvals: list[Row]
    ) -> None:
        backing = Counter(
            row["approval_id"]
            for row in intents
            if row["approval_id"] is not None and row["outcome"] != "not_applied"
        )
        assert all(n == 1 for n in backing.values()), backing
        assert {row["id"] for row in approvals} == set(self.model_approvals)
        for row in approvals:
            model = self.model_approvals[row["id"]]
            stored = ModelApproval(row["id"], "", "", "", row["status"], float(row["expires_at"]))
            assert self._effective(model) == self._effective(stored), (model, row["status"])
            if row["id"] in backing:
                assert row["status"] == "consumed"
            if row["status"] == "granted":
                # Granted again only when the write it backed never happened.
                assert row["id"] not in backing

    def _reservations_are_the_writes_that_may_have_happened(
        self, intents: list[Row], actions: list[Row]
    ) -> None:
        assert {row["outcome"] for row in actions} <= {"executed"}
        slots = {row["id"] for row in actions}
        for row in intents:
            # A not-applied write gave its slot back; any other still holds it.
            assert (row["reservation_id"] in slots) == (row["outcome"] != "not_applied")
        assert len(actions) == sum(1 for m in self.intents.values() if m.reserved)
        recent = [row for row in actions if row["at"] >= self.now - HOUR]
        assert len(recent) == sum(
            1 for m in self.intents.values() if m.reserved and m.created_at >= self.now - HOUR
        )
        # At every reservation, the hour up to it held no more than the limits allow.
        for row in actions:
            window = [r for r in actions if row["at"] - HOUR <= r["at"] <= row["at"]]
            assert len(window) <= LIMITS.global_per_hour
            workload = (row["namespace"], row["workload"])
            same = [r for r in window if (r["namespace"], r["workload"]) == workload]
            assert len(same) <= LIMITS.per_workload_per_hour
            for other in actions:
                if other["id"] != row["id"] and (*workload, row["action"]) == (
                    other["namespace"],
                    other["workload"],
                    other["action"],
                ):
                    assert abs(other["at"] - row["at"]) >= LIMITS.cooldown_per_workload_seconds


LedgerMachine.TestCase.settings = settings(max_examples=50, stateful_step_count=30, deadline=None)
TestLedgerStateMachine = LedgerMachine.TestCase

# The same machine on PostgreSQL: one database for the test, emptied before each example.
_POSTGRES: dict[str, str] = {}


class PostgresLedgerMachine(LedgerMachine):
    def _target(self) -> Path | str:
        url = _POSTGRES["url"]
        db = open_database(url)
        for module in (ledger_module,):
            module.migrate(db)
        with db.write("state") as tx:
            tx.execute("TRUNCATE intents, plans, approvals, actions")
        return url


def test_the_ledger_state_machine_on_postgresql(postgres_url: str) -> None:
    _POSTGRES["url"] = postgres_url
    machine = PostgresLedgerMachine.TestCase
    machine.settings = settings(max_examples=15, stateful_step_count=30, deadline=None)
    machine("runTest").runTest()


def test_a_stalled_owner_may_not_write_or_finish_after_a_takeover(tmp_path: Path) -> None:
    from mcp_server.ledger import Ledger
    from mcp_server.plans import Plan, PlanFacts
    from policies import RateLimits

    now = [1000.0]
    path = tmp_path / "state.sqlite"
    stalled = Ledger(path, clock=lambda: now[0], owner="elsewhere:1:1", write_lease_seconds=60)
    recovery = Ledger(path, clock=lambda: now[0], owner="elsewhere:2:2", write_lease_seconds=60)
    plan = Plan(
        action="delete_pod",
        target={"kind": "Pod", "namespace": "default", "name": "web-1", "uid": "u1"},
        pod={"kind": "Pod", "namespace": "default", "name": "web-1", "uid": "u1"},
        workload="Deployment/web",
        parameters={},
        facts=PlanFacts("u1", "7", None, ("CrashLoopBackOff",)),
        risk="low",
        requires_approval=False,
        reason="r",
    )
    begun = stalled.begin(
        plan,
        idempotency_key="k",
        initiator="agent",
        limits=RateLimits(
            global_per_hour=5, per_workload_per_hour=5, cooldown_per_workload_seconds=0
        ),
        approval_id=None,
        approval_target="Pod/default/web-1",
        expected={},
    )
    intent = begun.intent
    now[0] += 61  # the owner stalls past its lease
    (orphan,) = recovery.orphans()
    assert recovery.adopt(orphan)
    assert recovery.finish(intent.action_id, "not_applied", {"recovered": True})
    # The stalled process wakes up: it may neither write nor record an outcome.
    assert not stalled.still_mine(intent.action_id)
    assert not stalled.finish(intent.action_id, "applied", {})
    found = recovery.intent(intent.action_id)
    assert found is not None and found.outcome == "not_applied"
