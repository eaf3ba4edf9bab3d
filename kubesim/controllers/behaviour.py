"""How a container behaves once started, decided from its spec the way a real node would.

The image and its command decide first: `busybox` with `sh -c "exit 1"` exits 1 at once,
`polinux/stress --vm 1 --vm-bytes 100M` holds 100M (and is OOM-killed under a smaller limit), a
command that sleeps runs, nginx and redis serve and log like themselves. Then `kubesim.io/*`
annotations on the pod (usually from the template) override what recorded scenarios need:
usage, logs, crash timing, probe results, pull results. Every annotation is documented in
docs/kubesim.md.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from kubesim.controllers import quantity
from kubesim.controllers.perl import perl_behaviour
from kubesim.controllers.shell import FOREVER as FOREVER
from kubesim.controllers.shell import SHELLS, FileTimeline, run_shell
from kubesim.images import PullOutcome, parse_image

Obj = dict[str, Any]

PREFIX = "kubesim.io/"
# How long after start a process that allocates more than its limit is killed.
OOM_AFTER_START = 1.0
EPSILON = 1e-6


class BehaviourError(ValueError):
    """A kubesim.io annotation that cannot be understood."""


@dataclass(frozen=True)
class Loop:
    """Lines a running process writes over and over, one batch every `period` seconds."""

    period: float
    lines: tuple[str, ...]
    first: float = 0.0  # offset of the first batch after the loop starts


@dataclass(frozen=True)
class Behaviour:
    """What a container does from the moment it starts (offsets in seconds after start)."""

    runs_for: float = FOREVER  # then exits with exit_code (unless killed first)
    exit_code: int = 0
    memory: float = 32 * 2**20  # bytes at start
    memory_growth: float = 0.0  # bytes per second (a leak)
    # With growth: the level usage levels off at (a cache warming up). Growth starts at
    # `memory_growth` and slows as usage nears it (exponential approach). None: no ceiling.
    memory_plateau: float | None = None
    cpu: float = 5.0  # millicores
    startup_lines: tuple[tuple[float, str], ...] = ()
    loop: Loop | None = None
    loop_starts: float = 0.0
    exit_lines: tuple[str, ...] = ()
    liveness_fails_after: float | None = None  # None: the probe passes
    liveness_output: str = ""
    readiness_fails_after: float | None = None
    ready_after: float = 0.0  # readiness probe passes from then on
    startup_fails: bool = False  # the startup probe never passes
    startup_after: float = 0.0  # the startup probe passes from then on
    ignore_sigterm: bool = False
    # The files the command creates and removes (a shell script); None: the image's program,
    # whose files kubesim does not know (any path exists).
    files: FileTimeline | None = None
    # Probe kinds ("Liveness", "Readiness", "Startup") set by kubesim.io annotations: these
    # win over what an exec probe would find in the files.
    probe_overrides: frozenset[str] = frozenset()
    oom_at: float | None = None  # forced OOM kill this long after start
    pull: PullOutcome | None = None  # forced pull result
    pull_seconds: float | None = None

    def memory_at(self, offset: float, limit: float | None = None) -> float:
        offset = max(offset, 0.0)
        usage = self._grown(offset)
        if self.oom_at is not None and limit:
            # A forced OOM: usage climbs to the limit by the time of the kill.
            usage = max(
                usage,
                self.memory + (limit - self.memory) * min(offset / max(self.oom_at, 1e-9), 1.0),
            )
        return min(usage, limit) if limit else usage

    def _grown(self, offset: float) -> float:
        span = self._plateau_span()
        if span is None:
            return self.memory + self.memory_growth * offset
        return self.memory + span * (1.0 - math.exp(-self.memory_growth * offset / span))

    def _plateau_span(self) -> float | None:
        if self.memory_plateau is None or self.memory_growth <= 0:
            return None
        span = self.memory_plateau - self.memory
        return span if span > 0 else None

    def _reaches(self, level: float) -> float | None:
        """Seconds after start at which growing usage reaches `level` (None: never)."""
        span = self._plateau_span()
        if span is None:
            return (level - self.memory) / self.memory_growth
        if level >= self.memory + span:
            return None
        return -span / self.memory_growth * math.log(1.0 - (level - self.memory) / span)

    def oom_after(self, limit: float | None) -> float | None:
        """Seconds after start at which usage passes the memory limit (or a forced OOM), if ever."""
        natural: float | None = None
        if limit is not None and limit > 0:
            if self.memory > limit:
                natural = OOM_AFTER_START
            elif self.memory_growth > 0:
                reach = self._reaches(limit)
                natural = None if reach is None else max(reach, OOM_AFTER_START)
        if self.oom_at is not None:
            return self.oom_at if natural is None else min(natural, self.oom_at)
        return natural

    def next_line_after(self, offset: float) -> float | None:
        """The offset of the first log line written after `offset`, if any."""
        upcoming = [o for o, _ in self.startup_lines if o > offset]
        if self.loop is not None and self.loop.lines:
            start = self.loop_starts + self.loop.first
            if offset < start:
                upcoming.append(start)
            else:
                upcoming.append(
                    start + (int((offset - start) // self.loop.period) + 1) * self.loop.period
                )
        upcoming = [o for o in upcoming if o < self.runs_for]
        return min(upcoming, default=None)

    def lines_between(self, since: float, until: float) -> Iterator[tuple[float, str]]:
        """Log lines with offsets in (since, until], in order (offsets after start).

        Offsets are compared with a small tolerance: callers pass `end - start` differences
        whose float error must not drop the line written in the last instant of a run.
        """
        lo, hi = since + EPSILON, until + EPSILON
        for offset, line in self.startup_lines:
            if lo < offset <= hi or (offset == 0 and since < 0 <= hi):
                yield offset, line
        if self.loop is None or not self.loop.lines:
            return
        start = self.loop_starts + self.loop.first
        period = self.loop.period
        if hi < start:
            return
        k = 0 if lo < start else int((lo - start) // period) + 1
        while True:
            offset = start + k * period
            if offset > hi or offset >= self.runs_for - EPSILON:
                return
            if offset > lo:
                for line in self.loop.lines:
                    yield offset, line.replace("{n}", str(k + 1))
            k += 1


# -- images -------------------------------------------------------------------------------

_NGINX_STARTUP = (
    "/docker-entrypoint.sh: /docker-entrypoint.d/ is not empty, "
    "will attempt to perform configuration",
    "/docker-entrypoint.sh: Looking for shell scripts in /docker-entrypoint.d/",
    "/docker-entrypoint.sh: Launching /docker-entrypoint.d/10-listen-on-ipv6-by-default.sh",
    "10-listen-on-ipv6-by-default.sh: info: Getting the checksum of /etc/nginx/conf.d/default.conf",
    "10-listen-on-ipv6-by-default.sh: info: "
    "Enabled listen on IPv6 in /etc/nginx/conf.d/default.conf",
    "/docker-entrypoint.sh: Sourcing /docker-entrypoint.d/15-local-resolvers.envsh",
    "/docker-entrypoint.sh: Launching /docker-entrypoint.d/20-envsubst-on-templates.sh",
    "/docker-entrypoint.sh: Launching /docker-entrypoint.d/30-tune-worker-processes.sh",
    "/docker-entrypoint.sh: Configuration complete; ready for start up",
    '{nginxtime} [notice] 1#1: using the "epoll" event method',
    "{nginxtime} [notice] 1#1: nginx/{version}",
    "{nginxtime} [notice] 1#1: built by gcc 12.2.0 (Debian 12.2.0-14)",
    "{nginxtime} [notice] 1#1: OS: Linux 6.1.0-18-amd64",
    "{nginxtime} [notice] 1#1: getrlimit(RLIMIT_NOFILE): 1048576:1048576",
    "{nginxtime} [notice] 1#1: start worker processes",
    "{nginxtime} [notice] 1#1: start worker process 29",
    "{nginxtime} [notice] 1#1: start worker process 30",
)
_NGINX_PROBE = '{podnet}.1 - - [{clftime}] "GET {path} HTTP/1.1" 200 615 "-" "kube-probe/1.28" "-"'

_REDIS_STARTUP = (
    "1:C {redistime} * oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo",
    "1:C {redistime} * Redis version={version}, bits=64, commit=00000000, modified=0, pid=1, "
    "just started",
    "1:C {redistime} # Warning: no config file specified, using the default config. "
    "In order to specify a config file use redis-server /path/to/redis.conf",
    "1:M {redistime} * monotonic clock: POSIX clock_gettime",
    "1:M {redistime} * Running mode=standalone, port=6379.",
    "1:M {redistime} * Server initialized",
    "1:M {redistime} * Ready to accept connections tcp",
)

_SHELL_IMAGES = {
    "library/busybox",
    "busybox",  # registry.k8s.io/busybox
    "library/alpine",
    "library/ubuntu",
    "library/debian",
    "curlimages/curl",
}


def _image_version(tag: str, default: str) -> str:
    match = re.match(r"^(\d+(?:\.\d+){0,2})", tag)
    if not match:
        return default
    version = match.group(1)
    return version + ".0" * (2 - version.count("."))


def _container_probes_path(container: Obj) -> str | None:
    for name in ("readinessProbe", "livenessProbe"):
        probe = container.get(name) or {}
        if isinstance(probe.get("httpGet"), dict):
            return str(probe["httpGet"].get("path") or "/")
    return None


def _probe_period(container: Obj) -> float:
    periods = [
        float((container.get(name) or {}).get("periodSeconds") or 10)
        for name in ("readinessProbe", "livenessProbe")
        if container.get(name)
    ]
    return min(periods) if periods else 10.0


def _argv(container: Obj) -> list[str]:
    command = [str(c) for c in container.get("command") or []]
    args = [str(a) for a in container.get("args") or []]
    return command + args if command else args


def _image_default(container: Obj) -> Behaviour:
    image = str(container.get("image") or "")
    ref = parse_image(image)
    repo = ref.repository
    argv = _argv(container)
    if repo == "library/nginx" and not container.get("command"):
        version = _image_version(ref.tag, "1.27.3")
        startup = tuple((0.0, line.replace("{version}", version)) for line in _NGINX_STARTUP)
        path = _container_probes_path(container)
        loop = (
            Loop(_probe_period(container), (_NGINX_PROBE.replace("{path}", path),))
            if path
            else None
        )
        return Behaviour(
            memory=7 * 2**20, cpu=1.0, startup_lines=startup, loop=loop, loop_starts=1.0
        )
    if repo == "library/redis" and not container.get("command"):
        version = _image_version(ref.tag, "7.2.4")
        startup = tuple((0.0, line.replace("{version}", version)) for line in _REDIS_STARTUP)
        return Behaviour(memory=4 * 2**20, cpu=3.0, startup_lines=startup)
    if repo == "polinux/stress":
        return _stress(argv[1:] if argv and argv[0].endswith("stress") else argv)
    if repo == "library/postgres":
        return Behaviour(
            memory=45 * 2**20,
            cpu=8.0,
            startup_lines=(
                (0.0, "PostgreSQL init process complete; ready for start up."),
                (1.0, "{pgtime} UTC [1] LOG:  database system is ready to accept connections"),
            ),
        )
    if repo.endswith("/pause"):
        return Behaviour(memory=300 * 2**10, cpu=0.0)
    if repo in ("library/python", "library/node"):
        return _interpreter(repo.split("/")[-1], argv)
    if repo == "library/perl":
        return perl_behaviour(argv)
    if repo in _SHELL_IMAGES:
        if not argv:
            argv = ["bash"] if repo in ("library/ubuntu", "library/debian") else ["sh"]
        return _shell(argv)
    if argv and argv[0].rsplit("/", 1)[-1] in SHELLS and "-c" in argv:
        return _shell(argv, known_image=False)  # a shell script: most images have a shell
    # Any other image runs its own program (which we cannot see into): it keeps running.
    return Behaviour()


def _interpreter(name: str, argv: list[str]) -> Behaviour:
    """python / node images: no program (no TTY) exits at once; a missing one fails."""
    if not argv or argv[0].rsplit("/", 1)[-1] not in (name, "python3", "nodejs"):
        if argv:
            return _shell(argv, known_image=False)
        return Behaviour(runs_for=0.0, memory=9 * 2**20, cpu=0.0)
    args = argv[1:]
    if not args:
        return Behaviour(runs_for=0.0, memory=9 * 2**20, cpu=0.0)
    if name == "python" and args[0] == "-m" and len(args) > 1:
        module = args[1]
        if module == "http.server":
            port = args[2] if len(args) > 2 and args[2].isdigit() else "8000"
            line = f"Serving HTTP on 0.0.0.0 port {port} (http://0.0.0.0:{port}/) ..."
            return Behaviour(memory=14 * 2**20, cpu=1.0, startup_lines=((0.0, line),))
        return Behaviour(
            runs_for=0.0,
            exit_code=1,
            memory=9 * 2**20,
            startup_lines=((0.0, f"/usr/local/bin/python: No module named {module}"),),
        )
    if args[0] in ("-c", "-e"):
        return Behaviour(runs_for=0.2, memory=9 * 2**20, cpu=0.0)
    script = args[0]
    if name == "python":
        text = f"python: can't open file '{script}': [Errno 2] No such file or directory"
        return Behaviour(runs_for=0.0, exit_code=2, startup_lines=((0.0, text),))
    return Behaviour(
        runs_for=0.0,
        exit_code=1,
        startup_lines=((0.0, f"Error: Cannot find module '{script}'"),),
    )


def _stress(args: list[str]) -> Behaviour:
    """polinux/stress: `--vm N --vm-bytes SIZE` holds N*SIZE, `--cpu N` burns N cores."""
    vm, vm_bytes, cpu, io, timeout = 0, 256 * 2**20, 0, 0, FOREVER
    i = 0
    while i < len(args):
        arg = args[i]
        value = args[i + 1] if i + 1 < len(args) else ""
        if arg in ("--vm", "-m"):
            vm, i = int(value), i + 1
        elif arg == "--vm-bytes":
            vm_bytes, i = int(quantity.size_bytes(value)), i + 1
        elif arg in ("--cpu", "-c"):
            cpu, i = int(value), i + 1
        elif arg in ("--io", "-i"):
            io, i = int(value), i + 1
        elif arg in ("--timeout", "-t"):
            timeout, i = quantity.duration_seconds(value), i + 1
        elif arg.startswith("--vm-bytes="):
            vm_bytes = int(quantity.size_bytes(arg.split("=", 1)[1]))
        i += 1
    lines: list[tuple[float, str]] = [
        (0.0, f"stress: info: [1] dispatching hogs: {cpu} cpu, {io} io, {vm} vm, 0 hdd")
    ]
    if timeout != FOREVER:
        lines.append((timeout, f"stress: info: [1] successful run completed in {int(timeout)}s"))
    return Behaviour(
        runs_for=timeout,
        memory=vm * vm_bytes + 2**20,
        cpu=cpu * 1000.0 + 1.0,
        startup_lines=tuple(lines),
        exit_lines=(
            "stress: FAIL: [1] (415) <-- worker 7 got signal 9",
            "stress: WARN: [1] (417) now reaping child worker processes",
            "stress: FAIL: [1] (451) failed run completed in 1s",
        ),
    )


def _shell(argv: list[str], known_image: bool = True) -> Behaviour:
    """A shell script's behaviour. known_image: the image holds only a shell's files (busybox,
    alpine, ...), so a path the script never created does not exist."""
    run = run_shell(argv)
    memory = 512 * 2**10
    if run.loop is not None or run.clock == FOREVER:
        loop = Loop(run.loop[0], run.loop[1]) if run.loop is not None else None
        return Behaviour(
            memory=memory,
            cpu=0.0,
            startup_lines=tuple(run.lines),
            loop=loop,
            loop_starts=run.loop_starts,
            files=run.timeline(known_image=known_image),
        )
    code = run.exit_code if run.exit_code is not None else run.last_status
    return Behaviour(
        runs_for=run.clock,
        exit_code=code,
        memory=memory,
        cpu=0.0,
        startup_lines=tuple(run.lines),
        files=run.timeline(known_image=known_image),
    )


# -- annotations --------------------------------------------------------------------------


def _applies(annotations: dict[str, str], container: Obj) -> bool:
    names = annotations.get(PREFIX + "containers")
    if names and container.get("name") not in [n.strip() for n in names.split(",")]:
        return False
    patterns = annotations.get(PREFIX + "when-image")
    if patterns:
        image = str(container.get("image") or "")
        full = parse_image(image).full
        return any(
            fnmatch.fnmatch(image, p.strip()) or fnmatch.fnmatch(full, p.strip())
            for p in patterns.split(",")
            if p.strip()
        )
    return True


def _duration(annotations: dict[str, str], key: str) -> float | None:
    value = annotations.get(PREFIX + key)
    if value is None or value == "":
        return None
    try:
        return quantity.duration_seconds(value)
    except quantity.QuantityError as exc:
        raise BehaviourError(f"{PREFIX}{key}: {exc}") from exc


def _rate(text: str) -> float:
    """'5Mi/min', '1Mi/s', '100Ki/10s' -> bytes per second."""
    amount, _, per = text.partition("/")
    seconds = quantity.duration_seconds(
        {"s": "1s", "min": "60s", "m": "60s", "h": "3600s"}.get(per.strip() or "s", per.strip())
    )
    return quantity.memory_bytes(amount.strip()) / seconds


def _probe_setting(value: str, key: str) -> tuple[bool, float]:
    """'fail' -> (True, 0); 'fail-after=30s' -> (True, 30); 'pass' -> (False, 0)."""
    value = value.strip()
    if value in ("pass", "ok", "true", ""):
        return False, 0.0
    if value == "fail":
        return True, 0.0
    if value.startswith("fail-after="):
        return True, quantity.duration_seconds(value.split("=", 1)[1])
    if value.startswith("ready-after="):
        return False, quantity.duration_seconds(value.split("=", 1)[1])
    raise BehaviourError(
        f"{PREFIX}{key}: expected pass, fail, fail-after=<duration> or ready-after=<duration>"
    )


def _lines(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    return tuple(line for line in text.splitlines() if line.strip())


def _overlay(base: Behaviour, annotations: dict[str, str]) -> Behaviour:
    b = base
    try:
        if PREFIX + "memory" in annotations:
            b = replace(b, memory=quantity.memory_bytes(annotations[PREFIX + "memory"]))
        if PREFIX + "memory-growth" in annotations:
            b = replace(b, memory_growth=_rate(annotations[PREFIX + "memory-growth"]))
        if PREFIX + "memory-plateau" in annotations:
            b = replace(
                b, memory_plateau=quantity.memory_bytes(annotations[PREFIX + "memory-plateau"])
            )
        if PREFIX + "cpu" in annotations:
            b = replace(b, cpu=quantity.cpu_millis(annotations[PREFIX + "cpu"]))
        if PREFIX + "exit-code" in annotations:
            b = replace(b, exit_code=int(annotations[PREFIX + "exit-code"]))
    except (ValueError, quantity.QuantityError) as exc:
        raise BehaviourError(str(exc)) from exc
    crash = _duration(annotations, "crash-after")
    if crash is not None:
        code = int(annotations.get(PREFIX + "exit-code", "1"))
        b = replace(b, runs_for=crash, exit_code=code)
    oom = _duration(annotations, "oom-after")
    if oom is not None:
        b = replace(b, oom_at=oom)
    startup = _lines(annotations.get(PREFIX + "log-startup"))
    if startup:
        b = replace(b, startup_lines=tuple((0.0, line) for line in startup))
    loop_lines = _lines(annotations.get(PREFIX + "log-lines"))
    interval = _duration(annotations, "log-interval")
    if loop_lines:
        b = replace(b, loop=Loop(interval or 5.0, loop_lines), loop_starts=0.0)
    elif interval is not None and b.loop is not None:
        b = replace(b, loop=replace(b.loop, period=interval))
    exit_lines = _lines(annotations.get(PREFIX + "log-exit"))
    if exit_lines:
        b = replace(b, exit_lines=exit_lines)
    overrides = {
        kind
        for kind in ("Liveness", "Readiness", "Startup")
        if PREFIX + kind.lower() in annotations
    }
    if overrides:
        b = replace(b, probe_overrides=frozenset(overrides))
    if PREFIX + "liveness" in annotations:
        fails, after = _probe_setting(annotations[PREFIX + "liveness"], "liveness")
        b = replace(b, liveness_fails_after=after if fails else None)
    if PREFIX + "liveness-output" in annotations:
        b = replace(b, liveness_output=annotations[PREFIX + "liveness-output"])
    if PREFIX + "readiness" in annotations:
        value = annotations[PREFIX + "readiness"]
        fails, after = _probe_setting(value, "readiness")
        if fails:
            b = replace(b, readiness_fails_after=after)
        else:
            b = replace(b, ready_after=after)
    if PREFIX + "startup" in annotations:
        fails, after = _probe_setting(annotations[PREFIX + "startup"], "startup")
        b = replace(b, startup_fails=fails, startup_after=after)
    if annotations.get(PREFIX + "ignore-sigterm", "").lower() == "true":
        b = replace(b, ignore_sigterm=True)
    pull = annotations.get(PREFIX + "pull")
    if pull:
        try:
            b = replace(b, pull=PullOutcome(pull))
        except ValueError as exc:
            raise BehaviourError(
                f"{PREFIX}pull: expected one of {[o.value for o in PullOutcome]}"
            ) from exc
    pull_seconds = _duration(annotations, "pull-seconds")
    if pull_seconds is not None:
        b = replace(b, pull_seconds=pull_seconds)
    return b


def container_behaviour(pod: Obj, container: Obj) -> Behaviour:
    """The behaviour of one container of a pod: its image and command, then the annotations."""
    base = _image_default(container)
    annotations = {
        k: str(v)
        for k, v in ((pod.get("metadata") or {}).get("annotations") or {}).items()
        if k.startswith(PREFIX)
    }
    if not annotations or not _applies(annotations, container):
        return base
    return _overlay(base, annotations)
