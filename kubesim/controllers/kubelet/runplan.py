"""What one run of a container will do: when it ends and how (exit, OOM kill, a probe's kill),
when its startup probe passes and when it is ready. Decided once, when the container starts."""

from __future__ import annotations

from dataclasses import dataclass

from kubesim.controllers import probes
from kubesim.controllers.behaviour import FOREVER, Behaviour
from kubesim.controllers.kubelet.common import memory_limit
from kubesim.controllers.runtime import RunPlan, probe_of
from kubesim.store import Obj


@dataclass
class _Ending:
    """How the process ends so far: seconds after its start, exit code and reason."""

    after: float
    code: int
    reason: str

    def killed_at(self, after: float, reason: str = "Error") -> bool:
        """A kill `after` seconds in (SIGKILL, 137), if it comes before the current end."""
        if after < self.after:
            self.after, self.code, self.reason = after, 137, reason
            return True
        return False


def plan_run(b: Behaviour, spec: Obj, start: float, restored_at: float | None = None) -> RunPlan:
    """The plan of a run of `spec` started at `start` (`restored_at`: found already running)."""
    plan = RunPlan(start=start, behaviour=b)
    ending = _Ending(b.runs_for, b.exit_code, "Completed" if b.exit_code == 0 else "Error")
    oom = b.oom_after(memory_limit(spec))
    if oom is not None:
        ending.killed_at(oom, "OOMKilled")
    plan.started_at = _plan_startup(plan, ending, spec)
    _plan_liveness(plan, ending, spec)
    plan.end_at = start + ending.after if ending.after != FOREVER else FOREVER
    plan.exit_code, plan.reason = ending.code, ending.reason
    _plan_readiness(plan, spec)
    plan.ready_at = max(plan.ready_at, plan.started_at)
    if restored_at is not None and plan.end_at < restored_at:
        plan.end_at = restored_at  # a recorded run that "should" have ended: end it now
    return plan


def _plan_startup(plan: RunPlan, ending: _Ending, spec: Obj) -> float:
    """When the startup probe passes (the start without one; FOREVER when it never does)."""
    b, start = plan.behaviour, plan.start
    startup = probe_of(spec, "startupProbe", "Startup")
    startup_exec = probes.exec_schedule(startup, b, spec, start, start)
    if startup_exec is not None:
        plan.exec_probes["Startup"] = startup_exec
        plan.startup_first_failure = startup_exec.first_failure()
        passes = startup_exec.passes_at()
        kill = startup_exec.kill_at() if passes is None else None
        if kill is not None and ending.killed_at(kill - start):
            plan.startup_kill = True
        return FOREVER if passes is None else passes
    if startup is None:
        return start
    if not b.startup_fails:
        return startup.first_at_or_after(start, start + b.startup_after)
    first = startup.first_at_or_after(start, start)
    plan.startup_first_failure = first
    kill = first + (startup.failure_threshold - 1) * startup.period
    if ending.killed_at(kill - start):
        plan.startup_kill = True
    return FOREVER


def _plan_liveness(plan: RunPlan, ending: _Ending, spec: Obj) -> None:
    b, start, started_at = plan.behaviour, plan.start, plan.started_at
    liveness = probe_of(spec, "livenessProbe", "Liveness")
    liveness_exec = probes.exec_schedule(liveness, b, spec, start, started_at)
    if liveness_exec is not None:
        plan.exec_probes["Liveness"] = liveness_exec
        plan.liveness_first_failure = liveness_exec.first_failure()
        kill = liveness_exec.kill_at()
        if kill is not None and ending.killed_at(kill - start):
            plan.liveness_kill = True
    elif liveness is not None and b.liveness_fails_after is not None and started_at < FOREVER:
        # Liveness probes run only once the startup probe passed.
        first = liveness.first_at_or_after(start, max(start + b.liveness_fails_after, started_at))
        plan.liveness_first_failure = first
        kill = first + (liveness.failure_threshold - 1) * liveness.period
        if ending.killed_at(kill - start):
            plan.liveness_kill = True


def _plan_readiness(plan: RunPlan, spec: Obj) -> None:
    b, start = plan.behaviour, plan.start
    readiness = probe_of(spec, "readinessProbe", "Readiness")
    readiness_exec = probes.exec_schedule(readiness, b, spec, start, plan.started_at)
    if readiness is None:
        plan.ready_at = plan.started_at
    elif readiness_exec is not None:
        plan.exec_probes["Readiness"] = readiness_exec  # ready as its results say
        plan.readiness_first_failure = readiness_exec.first_failure()
    else:
        if b.readiness_fails_after != 0.0:
            plan.ready_at = readiness.first_at_or_after(start, start + b.ready_after)
        if b.readiness_fails_after is not None:
            first = readiness.first_at_or_after(start, start + b.readiness_fails_after)
            plan.readiness_first_failure = first
            plan.unready_at = first + (readiness.failure_threshold - 1) * readiness.period
