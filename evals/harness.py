"""Replay scenarios through the whole stack and score what really happened.

For each scenario: a fresh kubesim (manual clock, starting at the recording time) holding the
recorded objects, logs and behaviour; an MCP server (mcp_server.create_server) over it, reached
through an in-memory MCP client session and langchain-mcp-adapters, exactly as the agent
reaches it in production; the agent's LangGraph incident graph run for the target pod, with
the scenario's human answering approval interrupts (granting or rejecting the server's
approval record, then resuming the thread). Waiting in the agent and in the server advances
the simulated clock, so minutes of back-off cost milliseconds.

Afterwards the harness looks for itself: the writes kubesim served (classified from the spec
changes they made), the workload's health after five more simulated minutes, the audit file
and every LLM prompt searched for the scenario's secrets.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from agent.fastschema import sdk_validation_cached
from evals.format import Scenario
from evals.llm import PromptRecorder, attach_recorder, eval_model
from evals.loader import start_sim
from evals.observe import WriteWatcher, classify_writes, restart_counts, workload_healthy
from evals.scoring import RunResult, Score, find_leaks, score
from kubemedic_store import StateLayout

log = logging.getLogger(__name__)

MAX_APPROVAL_ROUNDS = 6


@dataclass
class HarnessOptions:
    llm: str = "none"  # none | hostile | <provider>:<model>
    settle_seconds: float = 300.0  # simulated time the harness watches after the agent is done
    verify_interval_seconds: float = 10.0
    verify_max_checks: int = 18
    pod_cache: bool = False  # list per look: deterministic under a manual clock
    state_root: Path | None = None  # where per-scenario state dirs go (default: a temp dir)
    keep_state: bool = False


@dataclass
class _Trace:
    """What the graph's node updates told us while it ran."""

    detected: list[str] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)
    rule_actions: list[str] = field(default_factory=list)
    vetoes: int = 0
    approvals: list[str] = field(default_factory=list)
    healed_at: float | None = None  # simulated seconds from the incident's opening
    opened_at: float | None = None  # simulated clock when the incident opened
    parameters: dict[str, Any] | None = None
    verdict: str = ""
    restarts_at_open: int | None = None
    incident_pod: str | None = None


class _SharedServer:
    """One MCP server for the whole eval, as in production one server serves many sessions.

    `create_server(state)` only uses `state.session()` (in its lifespan) and hands what that
    yields to the tools; this slot forwards `session()` to the scenario being run, so each
    scenario's sessions see its own ServerState. Building the server (tool schemas) once saves
    most of the per-scenario CPU.
    """

    # One unnamed cluster, as a single-cluster server has.
    cluster = None

    def __init__(self) -> None:
        self._server: Any = None
        self._current: Any = None
        self._runner: Any = None
        self._incidents = 0

    def server(self, factory: Callable[[Any], Any]) -> Any:
        if self._server is None:
            self._server = factory(self)
        return self._server

    @asynccontextmanager
    async def bound(self, state: Any) -> AsyncIterator[None]:
        if self._current is not None:
            raise RuntimeError("the eval's MCP server runs one scenario at a time")
        self._current = state
        try:
            yield
        finally:
            self._current = None

    def runner(self, factory: Callable[[Any], Any], context: Any) -> Any:
        """The incident runner for this scenario: the graph is compiled once, and each
        scenario's runner hands it that scenario's context (its tools, model and clock)."""
        if self._runner is None:
            self._runner = factory(context)
        return self._runner.with_context(context)

    def incident_id(self, scenario: str) -> str:
        self._incidents += 1
        return f"eval-{self._incidents}-{scenario}"

    def session(self) -> Any:
        if self._current is None:
            raise RuntimeError("no scenario is bound to the eval's MCP server")
        return self._current.session()

    def __getattr__(self, name: str) -> Any:
        # The tools read the state they were handed (its config, cache, ...): the bound one's.
        current = self.__dict__.get("_current")
        if current is None:
            if name == "config":  # building the server, before any scenario is bound
                from mcp_server.config import ServerConfig

                return ServerConfig()
            raise AttributeError(name)
        return getattr(current, name)


_SHARED = _SharedServer()


@functools.lru_cache(maxsize=16)
def _policy_named(name: str) -> Any:
    from policies import DEMO_POLICY_PATH, load_policy

    if name == "default":
        return load_policy(None)
    if name == "demo":
        return load_policy(DEMO_POLICY_PATH)
    return load_policy(Path(name))


def _merged(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


@functools.lru_cache(maxsize=16)
def _policy_overridden(name: str, overrides_json: str) -> Any:
    import json

    import yaml

    from policies import DEFAULT_POLICY_PATH, DEMO_POLICY_PATH, policy_from_dict

    path = {"default": DEFAULT_POLICY_PATH, "demo": DEMO_POLICY_PATH}.get(name, Path(name))
    base = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    data = _merged(base, json.loads(overrides_json))
    return policy_from_dict(data, f"{path} with the scenario's policy_overrides")


def _policy_for(scenario: Scenario) -> Any:
    if scenario.policy_overrides:
        import json

        return _policy_overridden(
            scenario.policy, json.dumps(scenario.policy_overrides, sort_keys=True)
        )
    return _policy_named(scenario.policy)


class _SimTime:
    """Every wait of the run (the server's, the agent's, the watch loop's, the harness's own)
    advances kubesim's clock through here. With usage sampling on, time goes in steps of the
    sampling interval: after each, the pod cache is let catch up with the cluster (so what the
    server sees after a wait is deterministic) and the sampler does one round, reading the
    PodMetrics kubesim wrote at that simulated moment."""

    def __init__(self, sim: Any, every: float) -> None:
        self.sim = sim
        self.every = every
        self.state: Any = None  # ServerState, once built
        self.next_at = sim.clock.seconds() + every if every else 0.0

    def advance(self, seconds: float) -> None:
        sim = self.sim
        if seconds <= 0:
            return
        if not self.every:
            sim.advance(seconds, step=max(seconds, 1.0))
            return
        end = sim.clock.seconds() + seconds
        while self.next_at <= end + 1e-9:
            delta = self.next_at - sim.clock.seconds()
            if delta > 0:
                sim.advance(delta, step=max(delta, 1.0))
            self.next_at += self.every
            self.sample()
        delta = end - sim.clock.seconds()
        if delta > 0:
            sim.advance(delta, step=max(delta, 1.0))
        self.caught_up()

    def caught_up(self, timeout: float = 5.0) -> bool:
        """Wait (wall time) until the server's pod cache holds every pod as the cluster does."""
        from kubesim.store import PODS

        cache = getattr(self.state, "cache", None)
        if cache is None or not cache.wait_synced(timeout):
            return False
        deadline = time.monotonic() + timeout
        while True:
            want = {
                (p["metadata"].get("namespace"), p["metadata"]["name"]): p["metadata"].get(
                    "resourceVersion"
                )
                for p in self.sim.store.list(PODS)
            }
            have = {
                (p["metadata"].get("namespace"), p["metadata"].get("name")): p["metadata"].get(
                    "resourceVersion"
                )
                for p in cache.pods()
            }
            if want == have:
                return True
            if time.monotonic() > deadline:
                log.warning("the pod cache did not catch up with kubesim within %.0fs", timeout)
                return False
            time.sleep(0.002)

    def sample(self) -> None:
        usage = getattr(self.state, "usage", None)
        if usage is None:
            return
        self.caught_up()
        usage.sample_once()


def _target_workload(scenario: Scenario) -> str:
    """The top controller of the target pod, from the recorded owner chain."""
    objects = scenario.cluster.objects
    pod = next(
        o
        for o in objects
        if o.get("kind") == "Pod"
        and o["metadata"].get("name") == scenario.target.pod
        and o["metadata"].get("namespace") == scenario.target.namespace
    )
    refs = [r for r in pod["metadata"].get("ownerReferences") or [] if r.get("controller")]
    if not refs:
        return f"Pod/{scenario.target.pod}"
    kind, name = refs[0]["kind"], refs[0]["name"]
    if kind == "ReplicaSet":
        rs = next(
            (
                o
                for o in objects
                if o.get("kind") == "ReplicaSet"
                and o["metadata"].get("name") == name
                and o["metadata"].get("namespace") == scenario.target.namespace
            ),
            None,
        )
        top = [
            r
            for r in (rs or {}).get("metadata", {}).get("ownerReferences") or []
            if r.get("controller")
        ]
        if top:
            return f"{top[0]['kind']}/{top[0]['name']}"
    return f"{kind}/{name}"


def _seed_rate_limits(scenario: Scenario, path: Path, now: Any) -> None:
    from mcp_server.ratelimit_store import RateLimitStore

    if not scenario.rate_limits:
        return
    with RateLimitStore(path) as store:
        for record in scenario.rate_limits:
            for _ in range(record.count):
                store.record(
                    record.namespace,
                    record.workload,
                    record.action,
                    at=now - timedelta(seconds=record.seconds_ago),
                )


def _issue_types(diagnosis: Mapping[str, Any] | None) -> list[str]:
    issues = (diagnosis or {}).get("issues") or []
    return [str(i.get("type")) for i in issues if isinstance(i, Mapping) and i.get("type")]


async def run_scenario(scenario: Scenario, options: HarnessOptions | None = None) -> RunResult:
    """Run one scenario end to end; never raises for a scenario's failure (error is recorded)."""
    options = options or HarnessOptions()
    started = time.perf_counter()
    result = RunResult(scenario=scenario.name, tags=list(scenario.tags))
    tmp: tempfile.TemporaryDirectory[str] | None = None
    if options.state_root is None:
        tmp = tempfile.TemporaryDirectory(prefix=f"eval-{scenario.name}-")
        state_dir = Path(tmp.name)
    else:
        state_dir = options.state_root / scenario.name
        state_dir.mkdir(parents=True, exist_ok=True)
    sim = None
    recorder = PromptRecorder()
    try:
        sim = start_sim(scenario)
        with sdk_validation_cached():
            await _drive(scenario, options, sim, state_dir, recorder, result)
    except Exception as exc:  # noqa: BLE001 - one broken scenario must not stop the eval
        log.exception("scenario %s failed", scenario.name)
        result.error = f"{type(exc).__name__}: {exc}"[:500]
    finally:
        if sim is not None:
            sim.stop()
        audit_path = StateLayout(state_dir).audit_log
        audit_text = audit_path.read_text() if audit_path.exists() else ""
        texts = {"audit": audit_text}
        texts.update({f"llm prompt {i + 1}": p for i, p in enumerate(recorder.prompts)})
        result.leaks = find_leaks(scenario.expect.secrets, texts)
        result.llm_calls = recorder.calls
        result.llm_tokens = recorder.tokens
        if tmp is not None and not options.keep_state:
            tmp.cleanup()
        result.wall_seconds = round(time.perf_counter() - started, 3)
    return result


async def _drive(
    scenario: Scenario,
    options: HarnessOptions,
    sim: Any,
    state_dir: Path,
    recorder: PromptRecorder,
    result: RunResult,
) -> None:
    from mcp.shared.memory import create_connected_server_and_client_session

    from agent.tools import Toolbox
    from mcp_server.config import ServerConfig
    from mcp_server.gateway import Gateway
    from mcp_server.server import create_server
    from mcp_server.state import Clock, ServerState
    from mcp_server.usage import UsageSampler

    policy = _policy_for(scenario)
    replay = scenario.replay
    sampling = replay.usage_sample_seconds > 0
    config = ServerConfig(
        kubeconfig=sim.kubeconfig_path,
        state_dir=state_dir,
        # The usage sampler tags samples with the cached pods: sampling needs the pod cache.
        pod_cache=options.pod_cache or sampling,
        usage_sample_seconds=0.0,  # the harness runs the sampler's rounds itself (_SimTime)
        verify_poll_seconds=2.0,
    )
    _seed_rate_limits(scenario, config.ratelimit_path, sim.clock.now())
    # kubesim fires every timer at its exact time within one advance: one step per wait.
    simtime = _SimTime(sim, replay.usage_sample_seconds)
    clock = Clock(now=sim.clock.now, monotonic=sim.clock.seconds, sleep=simtime.advance)
    state = ServerState(
        config, Gateway.from_kubeconfig(sim.kubeconfig_path), policy=policy, clock=clock
    )
    simtime.state = state
    if sampling and state.cache is not None:
        # Rounds driven by simulated time, not a thread on the wall clock (interval 0).
        state.usage = UsageSampler(
            state.gateway,
            state.cache,
            now=lambda: sim.clock.now().timestamp(),
            interval_seconds=0.0,
            window_seconds=config.usage_window_seconds,
            horizon_minutes=policy.memory.predict_horizon_minutes,
        )
    server = _SHARED.server(create_server)
    model = eval_model(options.llm, scenario)
    if model is not None:
        attach_recorder(model, recorder)
    watcher = WriteWatcher(sim)
    watcher.start()
    sim.reset_requests()
    t0 = sim.clock.seconds()
    trace = _Trace()

    async def sleep(seconds: float) -> None:
        simtime.advance(seconds)

    def on_update(_: str, node: str, update: Mapping[str, Any]) -> None:
        if node == "diagnose" and update.get("diagnosis") and not trace.detected:
            trace.detected = _issue_types(update.get("diagnosis"))
        if node == "gate":
            gate_state = update.get("gate") or {}
            if gate_state.get("action"):
                trace.decisions.append(str(gate_state["action"]))
            if gate_state.get("vetoed"):
                trace.vetoes += 1
            rule = update.get("rule_decision") or {}
            if rule.get("action"):
                trace.rule_actions.append(str(rule["action"]))
            if trace.parameters is None and gate_state.get("action"):
                trace.parameters = dict((gate_state.get("decision") or {}).get("parameters") or {})
        verification = update.get("verification") if node == "verify" else None
        if isinstance(verification, Mapping) and not trace.verdict:
            trace.verdict = _verdict_of(verification)
        if node == "verify" and update.get("outcome") == "healed" and trace.healed_at is None:
            trace.healed_at = sim.clock.seconds() - (trace.opened_at or t0)

    try:
        async with (
            _SHARED.bound(state),
            create_connected_server_and_client_session(
                server, read_timeout_seconds=timedelta(seconds=120)
            ) as session,
        ):
            toolbox = await Toolbox.from_session(session)
            if replay.open_by == "watch":
                await _watch(
                    scenario, options, sim, simtime, state, toolbox, model, policy, trace, result
                )
            else:
                if replay.observe_seconds:
                    simtime.caught_up()
                    simtime.advance(replay.observe_seconds)
                await _incident(
                    scenario, options, sim, state, toolbox, model, policy, sleep, on_update, trace,
                    result,
                )  # fmt: skip
    finally:
        state.close()
    end_of_run = sim.clock.seconds()
    api_requests = len(sim.requests)
    # The harness's own look: five more simulated minutes, then is the workload healthy, and
    # did nothing of it restart meanwhile?
    restarts_before = restart_counts(sim, scenario.target.namespace)
    sim.advance(options.settle_seconds, step=max(options.settle_seconds, 1.0))
    watcher.stop()
    target_workload = _target_workload(scenario)
    classified = classify_writes(watcher, sim.requests, target_workload)
    result.writes = classified.writes
    result.failed_writes = classified.failed
    result.workload_healthy = workload_healthy(
        sim, scenario.target.namespace, target_workload, restarts_before
    )
    result.detected_issues = trace.detected
    result.decisions = trace.decisions
    result.rule_actions = trace.rule_actions
    result.vetoes = trace.vetoes
    result.approvals_asked = trace.approvals
    result.api_requests = api_requests
    result.sim_seconds = round(end_of_run - t0, 1)
    result.time_to_heal = trace.healed_at
    result.parameters = trace.parameters or {}
    result.verdict = trace.verdict[:1000]
    result.resizes = classified.resizes
    result.restarts_at_open = trace.restarts_at_open
    result.incident_pod = trace.incident_pod


def _verdict_of(verification: Mapping[str, Any]) -> str:
    """The server verifier's message in the verify node's record."""
    server = verification.get("server") or verification.get("last") or {}
    return str(server.get("message") or "") if isinstance(server, Mapping) else ""


def _workload_restarts(sim: Any, scenario: Scenario) -> int:
    """Container restarts of the target workload's pods now (kubesim's store)."""
    from kubesim.store import PODS, REPLICASETS

    kind, _, name = _target_workload(scenario).partition("/")
    ns = scenario.target.namespace
    owners = {(kind, name)}
    if kind == "Deployment":
        owners |= {
            ("ReplicaSet", rs["metadata"]["name"])
            for rs in sim.store.list(REPLICASETS, ns)
            for ref in rs["metadata"].get("ownerReferences") or []
            if ref.get("controller") and (ref.get("kind"), ref.get("name")) == (kind, name)
        }
    total = 0
    for pod in sim.store.list(PODS, ns):
        meta = pod["metadata"]
        refs = [r for r in meta.get("ownerReferences") or [] if r.get("controller")]
        mine = (
            (refs[0].get("kind"), refs[0].get("name")) in owners
            if refs
            else (kind, name) == ("Pod", meta["name"])
        )
        if mine:
            total += sum(
                int(s.get("restartCount") or 0)
                for s in (pod.get("status") or {}).get("containerStatuses") or []
            )
    return total


def _answer(scenario: Scenario, state: Any, pending: Mapping[str, Any]) -> dict[str, Any] | None:
    """The scenario's human answers an approval request: grant or reject the server's record
    (as `kubemedic approvals` does) and the reply that resumes the thread; None: nobody."""
    action = str(pending.get("action") or "")
    approval_id = str(pending.get("approval_id") or "")
    answer = scenario.approvals.answer_for(action)
    if answer == "none":
        return None
    approver = scenario.approvals.approver
    if answer == "approve":
        if approval_id:
            state.approvals.grant(approval_id, by=approver)
        return {"decision": "approve", "approver": approver, "approval_id": approval_id}
    if approval_id:
        state.approvals.reject(approval_id, by=approver, reason="eval: rejected")
    return {"decision": "reject", "approver": approver, "reason": "rejected"}


async def _incident(
    scenario: Scenario,
    options: HarnessOptions,
    sim: Any,
    state: Any,
    toolbox: Any,
    model: Any,
    policy: Any,
    sleep: Callable[[float], Any],
    on_update: Callable[[str, str, Mapping[str, Any]], None],
    trace: _Trace,
    result: RunResult,
) -> None:
    """The incident graph for the scenario's target pod, the human answering its approvals."""
    from langgraph.checkpoint.memory import InMemorySaver

    from agent.context import IncidentContext
    from agent.runner import IncidentRunner

    trace.incident_pod = scenario.target.pod
    trace.restarts_at_open = _workload_restarts(sim, scenario)
    trace.opened_at = sim.clock.seconds()
    runner = _SHARED.runner(
        lambda context: IncidentRunner(context, InMemorySaver()),
        IncidentContext(
            toolbox=toolbox,
            policy=policy,
            model=model,
            sleep=sleep,
            verify_interval_seconds=options.verify_interval_seconds,
            verify_max_checks=options.verify_max_checks,
            audit=None,
        ),
    )
    incident = _SHARED.incident_id(scenario.name)
    status = await runner.start(
        incident, scenario.target.namespace, scenario.target.pod, on_update=on_update
    )
    rounds = 0
    while status.waiting_for_approval and rounds < MAX_APPROVAL_ROUNDS:
        rounds += 1
        pending = status.pending or {}
        trace.approvals.append(str(pending.get("action") or ""))
        reply = _answer(scenario, state, pending)
        if reply is None:
            break
        status = await runner.resume(incident, reply, on_update=on_update)
    values = status.values
    if status.waiting_for_approval:
        result.agent_outcome = "awaiting_approval"
    else:
        result.agent_outcome = str(values.get("outcome") or "failed")
    result.summary = str(values.get("summary") or "")[:500]
    if not trace.detected:
        trace.detected = _issue_types(values.get("diagnosis"))


async def _watch(
    scenario: Scenario,
    options: HarnessOptions,
    sim: Any,
    simtime: _SimTime,
    state: Any,
    toolbox: Any,
    model: Any,
    policy: Any,
    trace: _Trace,
    result: RunResult,
) -> None:
    """The autonomous loop (`agent.watch.run_watch`) over the namespace: it polls
    `list_unhealthy_pods` every sampling interval of simulated time and must open the incident
    itself. The first incident it opens is the one scored; the loop stops polling then (so
    only that incident moves the clock) and lets it finish, the scenario's human answering."""
    from agent.context import IncidentContext
    from agent.runner import IncidentRunner, open_checkpointer
    from agent.watch import WatchEvent, WatchSettings, run_watch

    replay = scenario.replay
    stop = asyncio.Event()
    opened: dict[str, Any] = {}
    closed: dict[str, Any] = {}

    async def sleep(seconds: float) -> None:
        simtime.advance(seconds)

    async def approve(payload: dict[str, Any]) -> Mapping[str, Any] | None:
        trace.approvals.append(str(payload.get("action") or ""))
        return _answer(scenario, state, payload)

    def on_event(event: WatchEvent) -> None:
        if event.kind == "opened" and not opened:
            opened.update(event.data, id=event.incident_id, workload=event.workload)
            trace.opened_at = sim.clock.seconds()
            trace.restarts_at_open = _workload_restarts(sim, scenario)
            trace.incident_pod = str(event.data.get("pod") or "")
            stop.set()  # no more polls: the scored incident alone moves the clock
        elif event.kind == "closed" and event.incident_id == opened.get("id"):
            closed.update(event.data)
            if event.data.get("outcome") == "healed" and trace.opened_at is not None:
                trace.healed_at = sim.clock.seconds() - trace.opened_at

    poll = replay.usage_sample_seconds
    settings = WatchSettings(
        state_dir=Path(state.config.state_dir) / "watch",
        policy=policy,
        model=model,
        namespace=scenario.target.namespace,
        poll_interval_seconds=poll,
        verify_interval_seconds=options.verify_interval_seconds,
        verify_max_checks=options.verify_max_checks,
        sleep=sleep,
        max_polls=int(replay.observe_seconds // poll) + 1,
        shutdown_grace_seconds=300.0,
    )
    summary = await run_watch(toolbox, settings, on_event=on_event, approve=approve, stop=stop)
    incident_id = opened.get("id")
    if incident_id is None:
        result.agent_outcome = "resolved"  # the loop saw nothing to open
        result.summary = f"no incident opened in {replay.observe_seconds:g}s of watching"
        return
    async with open_checkpointer(settings.checkpoint_db) as saver:
        status = await IncidentRunner(
            IncidentContext(toolbox=toolbox, policy=policy), saver
        ).status(str(incident_id))
    values = status.values
    report = next((r for r in summary.incidents if r.incident_id == incident_id), None)
    if status.waiting_for_approval:
        result.agent_outcome = "awaiting_approval"
    else:
        outcome = closed.get("outcome") or (report.outcome if report else None)
        result.agent_outcome = str(outcome or values.get("outcome") or "failed")
    result.summary = str(values.get("summary") or "")[:500]
    trace.detected = _issue_types(values.get("diagnosis"))
    trace.verdict = _verdict_of(values.get("verification") or {})
    gate_state = values.get("gate") or {}
    if gate_state.get("action"):
        trace.decisions.append(str(gate_state["action"]))
        trace.parameters = dict((gate_state.get("decision") or {}).get("parameters") or {})
    if gate_state.get("vetoed"):
        trace.vetoes += 1
    rule = values.get("rule_decision") or {}
    if rule.get("action"):
        trace.rule_actions.append(str(rule["action"]))


def run_scenarios(
    scenarios: Sequence[Scenario],
    options: HarnessOptions | None = None,
    *,
    on_start: Callable[[Scenario], None] | None = None,
    on_done: Callable[[Score], None] | None = None,
    workers: int = 1,
) -> list[Score]:
    """Run and score every scenario; the scores come back in the scenarios' order.

    workers=1: one event loop in this process. workers>1: that many forked worker processes,
    each with its own kubesim, server and graph per scenario (scenarios share nothing), so a
    multi-core machine replays the set in a fraction of the time.
    """
    if workers > 1 and len(scenarios) > 1:
        return _run_in_workers(scenarios, options, on_start, on_done, workers)

    async def main() -> list[Score]:
        scores = []
        for scenario in scenarios:
            if on_start is not None:
                on_start(scenario)
            run = await run_scenario(scenario, options)
            scored = score(scenario, run)
            scores.append(scored)
            if on_done is not None:
                on_done(scored)
        return scores

    return asyncio.run(main())


def _warm_imports() -> None:
    """Import what a first scenario would import lazily (kubesim's API app, the kubernetes
    client's API and model modules, the MCP adapters, uvicorn's protocol), so forked workers
    start warm."""
    import importlib

    for name in (
        "agent.graph", "agent.runner", "agent.tools", "kubesim.sim", "kubesim.api.app",
        "kubesim.controllers", "kubesim.tls", "kubernetes.client.api.core_v1_api",
        "kubernetes.client.api.apps_v1_api", "kubernetes.client.api.custom_objects_api",
        "kubernetes.client.models", "langgraph.checkpoint.memory", "langchain_mcp_adapters.tools",
        "mcp.shared.memory", "mcp_server.gateway", "mcp_server.server", "mcp_server.state",
        "policies", "uvicorn.protocols.http.h11_impl", "uvicorn.lifespan.off",
        "anyio._backends._asyncio", "_strptime", "uvicorn.protocols.http.auto",
        "cryptography.hazmat.backends.openssl", "langchain_core.tracers.stdout",
        "langchain_core.tracers.run_collector",
    ):  # fmt: skip
        importlib.import_module(name)
    from mcp_server.server import create_server

    _SHARED.server(create_server)
    for policy in ("default", "demo"):
        _policy_named(policy)


def _score_one(scenario: Scenario, options: HarnessOptions | None) -> Score:
    logging.getLogger().setLevel(logging.CRITICAL)
    return score(scenario, asyncio.run(run_scenario(scenario, options)))


def _run_in_workers(
    scenarios: Sequence[Scenario],
    options: HarnessOptions | None,
    on_start: Callable[[Scenario], None] | None,
    on_done: Callable[[Score], None] | None,
    workers: int,
) -> list[Score]:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

    # fork: the workers start with every module this process imported already (imports are
    # most of a scenario's first-run cost), and with the eval's MCP server built.
    _warm_imports()
    context = multiprocessing.get_context("fork")
    results: dict[str, Score] = {}
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        queue = list(scenarios)
        running: dict[Future[Score], Scenario] = {}
        while queue or running:
            while queue and len(running) < workers:
                scenario = queue.pop(0)
                if on_start is not None:
                    on_start(scenario)
                running[pool.submit(_score_one, scenario, options)] = scenario
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                scenario = running.pop(future)
                scored = future.result()
                results[scenario.name] = scored
                if on_done is not None:
                    on_done(scored)
    return [results[s.name] for s in scenarios]
