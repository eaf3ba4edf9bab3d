"""Exec probes run against the container's own files, one probe at a time on the simulated
clock, as the kubelet's prober workers run them.

A probe runs at start + initialDelaySeconds + k * periodSeconds (liveness and readiness only
once the startup probe passed). Its command (`cat`, `test -f`, `[ -f ... ]`, `ls`, `grep`, in
`sh -c` scripts with `&&` / `||`) reads the file set the container's command built by then
(kubesim.controllers.shell.FileTimeline); one that runs `timeoutSeconds` or longer fails.
`failureThreshold` consecutive failures make a liveness (or startup) probe kill the container and
a readiness probe mark it unready; `successThreshold` consecutive successes make it ready again
(a readiness result starts as Failure). Results are worked out lazily, up to the time asked for.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from kubesim.controllers.shell import FOREVER, FileTimeline, run_probe

if TYPE_CHECKING:
    from kubesim.controllers.behaviour import Behaviour
    from kubesim.controllers.runtime import Probe

# How far ahead a plan looks for a kill or a readiness change: this many probes.
HORIZON = 2000


class ProbeSchedule:
    """One exec probe of one run of a container."""

    def __init__(self, probe: Probe, start: float, not_before: float, files: FileTimeline):
        self.probe = probe
        self.start = start
        self.not_before = not_before  # liveness and readiness wait for the startup probe
        self.files = files
        self.k = 0  # the next probe to run
        self.fail_run = 0
        self.ok_run = 0
        self.ready = False
        self.flips: list[tuple[float, bool]] = []  # readiness changes (time, ready)
        self.failures: list[tuple[float, str]] = []  # (time, output) of each failed probe
        self.threshold_at: float | None = None  # failure_threshold consecutive failures
        self.first_success: float | None = None
        settles = files.settles_at()
        # After the files stop changing every result is the same: no need to look further.
        self.stable_after = (
            None
            if settles is None
            else start
            + settles
            + (probe.failure_threshold + probe.success_threshold + 1) * probe.period
        )

    def time_of(self, k: int) -> float:
        return self.start + self.probe.initial_delay + k * self.probe.period

    def _step(self) -> None:
        at = self.time_of(self.k)
        self.k += 1
        if at < self.not_before:
            return
        passed, output = run_probe(
            list(self.probe.command), self.files, at - self.start, self.probe.timeout
        )
        if passed:
            self.ok_run += 1
            self.fail_run = 0
            if self.first_success is None:
                self.first_success = at
            if not self.ready and self.ok_run >= self.probe.success_threshold:
                self.ready = True
                self.flips.append((at, True))
            return
        self.fail_run += 1
        self.ok_run = 0
        self.failures.append((at, output))
        if self.fail_run >= self.probe.failure_threshold:
            if self.threshold_at is None:
                self.threshold_at = at
            if self.ready:
                self.ready = False
                self.flips.append((at, False))

    def run_until(self, until: float) -> None:
        while self.time_of(self.k) <= until and until < FOREVER:
            self._step()

    # -- liveness / startup ---------------------------------------------------------------
    def kill_at(self) -> float | None:
        """When failure_threshold consecutive failures first happen (None: never)."""
        for _ in range(HORIZON):
            if self.threshold_at is not None:
                break
            if self.stable_after is not None and self.time_of(self.k) > self.stable_after:
                break
            self._step()
        return self.threshold_at

    def passes_at(self) -> float | None:
        """The startup probe's first success, if it comes before the kill."""
        for _ in range(HORIZON):
            if self.first_success is not None or self.threshold_at is not None:
                break
            if self.stable_after is not None and self.time_of(self.k) > self.stable_after:
                break
            self._step()
        return self.first_success if self.threshold_at is None else None

    def first_failure(self) -> float:
        for _ in range(HORIZON):
            if self.failures:
                break
            if self.stable_after is not None and self.time_of(self.k) > self.stable_after:
                break
            self._step()
        return self.failures[0][0] if self.failures else FOREVER

    def failures_until(self, until: float) -> list[tuple[float, str]]:
        self.run_until(until)
        last = until if self.threshold_at is None else min(until, self.threshold_at)
        if self.probe.kind == "Readiness":
            last = until
        return [f for f in self.failures if f[0] <= last]

    # -- readiness --------------------------------------------------------------------------
    def ready_at(self, at: float) -> bool:
        self.run_until(at)
        state = False
        for when, ready in self.flips:
            if when > at:
                break
            state = ready
        return state

    def next_flip_after(self, after: float) -> float | None:
        for when, _ in self.flips:
            if when > after:
                return when
        for _ in range(HORIZON):
            if self.stable_after is not None and self.time_of(self.k) > self.stable_after:
                return None
            count = len(self.flips)
            self._step()
            if len(self.flips) > count and self.flips[-1][0] > after:
                return self.flips[-1][0]
        return None


def exec_schedule(
    probe: Probe | None,
    behaviour: Behaviour,
    container: dict[str, Any],
    start: float,
    not_before: float,
) -> ProbeSchedule | None:
    """The schedule of an exec probe that reads the container's files; None for other probes,
    for one a `kubesim.io/*` annotation decides, and before the container ever starts."""
    if probe is None or probe.handler != "exec" or not probe.command:
        return None
    if probe.kind in behaviour.probe_overrides or not_before >= FOREVER:
        return None
    files = behaviour.files or FileTimeline(known_image=False)
    mounts = tuple(
        str(m.get("mountPath"))
        for m in container.get("volumeMounts") or []
        if isinstance(m, dict) and m.get("mountPath")
    )
    if mounts:
        files = replace(files, mounts=files.mounts + mounts)
    return ProbeSchedule(probe, start, not_before, files)


def grouped(failures: list[tuple[float, str]]) -> list[tuple[float, str, int]]:
    """Consecutive failures with the same output as (time of the last, output, how many)."""
    groups: list[tuple[float, str, int]] = []
    for at, output in failures:
        if groups and groups[-1][1] == output:
            groups[-1] = (at, output, groups[-1][2] + 1)
        else:
            groups.append((at, output, 1))
    return groups
