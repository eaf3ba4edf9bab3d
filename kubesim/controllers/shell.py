"""A very small shell: enough of sh to know what a container's script prints, how long it
runs and how it exits (echo, sleep, exit, true/false, while-true loops, && and ||), and which
files it creates and removes when (touch, rm, mkdir, echo > file, cp, mv): the container's
file set, which its exec probes (cat, test, [, ls, grep) read at the simulated time they run."""

from __future__ import annotations

import json
import math
import re
import shlex
from dataclasses import dataclass, field

from kubesim.controllers import quantity

FOREVER = float("inf")

SHELLS = {"sh", "bash", "ash", "dash"}
_APPLETS = {
    "echo",
    "sleep",
    "true",
    "false",
    "printf",
    "date",
    "env",
    "cat",
    "ls",
    "touch",
    "mkdir",
    "rm",
    "cp",
    "mv",
    "wget",
    "nc",
    "test",
    "[",
    "tail",
    "head",
    "yes",
    "dd",
    "ping",
    "nslookup",
    "hostname",
    "id",
    "whoami",
    "uname",
    "export",
    "trap",
    "set",
    "cd",
    "pwd",
    "wc",
    "grep",
    "sed",
    "awk",
    "tee",
    "chmod",
    "curl",
    "python",
    "python3",
    "node",
    ":",
}


# What any image with a shell holds (and what the kubelet mounts into every container).
BASE_FILES = frozenset(
    {
        "/",
        "/bin",
        "/bin/sh",
        "/dev",
        "/dev/null",
        "/etc",
        "/etc/hostname",
        "/etc/hosts",
        "/etc/passwd",
        "/etc/group",
        "/etc/resolv.conf",
        "/proc",
        "/root",
        "/tmp",
        "/usr",
        "/usr/bin",
        "/var",
        "/var/run",
        "/var/run/secrets/kubernetes.io/serviceaccount",
        "/var/run/secrets/kubernetes.io/serviceaccount/token",
        "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
        "/var/run/secrets/kubernetes.io/serviceaccount/namespace",
    }
)
FileOp = tuple[float, str, str]  # (offset, "add" | "rm", path)


def _normal(path: str) -> str:
    path = re.sub(r"/+", "/", path.strip())
    return path.rstrip("/") or "/"


def _apply(state: dict[str, bool], op: str, path: str) -> None:
    path = _normal(path)
    if op == "rm":
        for known in list(state):
            if known == path or known.startswith(path + "/"):
                state[known] = False
        state[path] = False
        return
    state[path] = True
    parent = path.rsplit("/", 1)[0]
    while parent:  # touching a file under a directory that exists makes it exist
        state[parent] = True
        parent = parent.rsplit("/", 1)[0]


@dataclass(frozen=True)
class FileTimeline:
    """A container's files over one run (offsets in seconds from its start): what its command
    creates and removes, on top of the image's files and the volumes mounted into it. A new
    run (a restart) starts from the image again."""

    ops: tuple[FileOp, ...] = ()
    loop_starts: float = 0.0
    loop_period: float = 0.0
    loop_ops: tuple[FileOp, ...] = ()  # offsets within one pass, repeated every period
    mounts: tuple[str, ...] = ()
    # The image's own files are known (a shell image: BASE_FILES); for any other image a path
    # the command never touched is taken to exist.
    known_image: bool = True

    def state(self, offset: float) -> dict[str, bool]:
        """Paths the command created (True) or removed (False) before `offset` (a command
        after `sleep 30` runs just after the 30th second, so a probe at 30 s still sees the
        file the command then removes)."""
        state: dict[str, bool] = {}
        for at, op, path in self.ops:
            if at >= offset - 1e-6 and at > 0:  # (probe times carry float noise)
                break
            _apply(state, op, path)
        if self.loop_ops and self.loop_period > 0 and offset >= self.loop_starts:
            into = offset - self.loop_starts
            passes = math.floor(into / self.loop_period + 1e-6)
            if passes >= 1:  # set operations: after one whole pass, every pass ends the same
                for _, op, path in self.loop_ops:
                    _apply(state, op, path)
            rest = into - passes * self.loop_period
            for at, op, path in self.loop_ops:
                if at < rest - 1e-6 or at == 0:
                    _apply(state, op, path)
        return state

    def exists(self, path: str, offset: float, state: dict[str, bool] | None = None) -> bool:
        path = _normal(path)
        state = self.state(offset) if state is None else state
        if path in state:
            return state[path]
        ancestor = path
        while "/" in ancestor.strip("/"):
            ancestor = ancestor.rsplit("/", 1)[0]
            if state.get(ancestor) is False:
                return False
        if any(p.startswith(path + "/") and present for p, present in state.items()):
            return True
        if any(path == m or path.startswith(m.rstrip("/") + "/") for m in self.mounts):
            return True
        return path in BASE_FILES or not self.known_image

    def settles_at(self) -> float | None:
        """The offset after which the files no longer change (None: they change forever)."""
        if self.loop_ops:
            return None
        return max((at for at, _, _ in self.ops), default=0.0)


@dataclass
class ShellRun:
    """What a script did: its lines (with offsets), how long it ran, how it ended, and the
    files it created and removed on the way."""

    clock: float = 0.0
    lines: list[tuple[float, str]] = field(default_factory=list)
    exit_code: int | None = None  # set once the script exits
    last_status: int = 0
    loop: tuple[float, tuple[str, ...]] | None = None  # (period, lines) repeated forever
    loop_starts: float = 0.0
    files: list[FileOp] = field(default_factory=list)
    loop_files: tuple[FileOp, ...] = ()
    present: dict[str, bool] = field(default_factory=dict)  # the files as the script runs

    def touch(self, op: str, path: str) -> None:
        self.files.append((self.clock, op, _normal(path)))
        _apply(self.present, op, path)

    def has(self, path: str) -> bool:
        return FileTimeline(known_image=True).exists(path, 0.0, self.present)

    def timeline(self, mounts: tuple[str, ...] = (), known_image: bool = True) -> FileTimeline:
        return FileTimeline(
            ops=tuple(self.files),
            loop_starts=self.loop_starts,
            loop_period=self.loop[0] if self.loop is not None else 0.0,
            loop_ops=self.loop_files,
            mounts=mounts,
            known_image=known_image,
        )


def _statements(script: str) -> list[tuple[str, str]]:
    """Split a shell script into (connector, statement); connector is ';', '&&' or '||'."""
    out: list[tuple[str, str]] = []
    connector = ";"
    buf = ""
    depth = 0
    i = 0
    quote = ""
    while i < len(script):
        ch = script[i]
        if quote:
            buf += ch
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
            buf += ch
        elif script.startswith("&&", i) or script.startswith("||", i):
            if depth == 0:
                out.append((connector, buf.strip()))
                connector, buf = script[i : i + 2], ""
                i += 2
                continue
            buf += script[i : i + 2]
            i += 2
            continue
        elif ch in ";\n" and depth == 0:
            out.append((connector, buf.strip()))
            connector, buf = ";", ""
        else:
            word = (
                re.match(r"\b(while|until|for|if|do|done|fi|then)\b", script[i:])
                if (i == 0 or not (script[i - 1].isalnum() or script[i - 1] == "_"))
                else None
            )
            if word:
                if word.group(1) in ("while", "until", "for", "if"):
                    depth += 1
                elif word.group(1) in ("done", "fi"):
                    depth -= 1
                buf += word.group(1)
                i += len(word.group(1))
                continue
            buf += ch
        i += 1
    out.append((connector, buf.strip()))
    return [(c, s) for c, s in out if s]


def _echo_text(words: list[str]) -> str:
    if words and words[0] == "-n":
        words = words[1:]
    text = " ".join(words)
    return re.sub(r"\$\(date[^)]*\)|`date[^`]*`", "{date}", text)


def _run_command(run: ShellRun, statement: str) -> None:
    """Run one simple command, advancing the simulated time it takes."""
    try:
        words = shlex.split(statement)
    except ValueError:
        words = statement.split()
    while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
        words = words[1:]  # variable assignments
    if not words:
        run.last_status = 0
        return
    name = words[0].rsplit("/", 1)[-1]
    redirect = any(w.startswith(">") for w in words)  # echo > file, echo >&2: no log line
    words, targets = _redirects(words)
    for target in targets:
        if target != "/dev/null":
            run.touch("add", target)
    if name == "exit":
        run.exit_code = (
            int(words[1]) if len(words) > 1 and words[1].lstrip("-").isdigit() else run.last_status
        )
        return
    if name == "sleep":
        arg = words[1] if len(words) > 1 else "0"
        run.clock = FOREVER if arg == "infinity" else run.clock + quantity.duration_seconds(arg)
        run.last_status = 0
        return
    if name == "tail" and "-f" in words:
        run.clock = FOREVER
        return
    if name in ("echo", "printf"):
        if not redirect:
            run.lines.append((run.clock, _echo_text(words[1:])))
        run.last_status = 0
        return
    if name == "false":
        run.last_status = 1
        return
    operands = [w for w in words[1:] if not w.startswith("-")]
    if name == "touch" or (name == "mkdir" and operands):
        for path in operands:
            run.touch("add", path)
        run.last_status = 0
        return
    if name == "rm":
        missing = [p for p in operands if not run.has(p)]
        for path in operands:
            run.touch("rm", path)
        forced = any(w.startswith("-") and "f" in w for w in words[1:])
        run.last_status = 1 if missing and not forced else 0
        return
    if name in ("cp", "mv") and len(operands) >= 2:
        if not run.has(operands[0]):
            run.lines.append(
                (run.clock, f"{name}: can't stat '{operands[0]}': No such file or directory")
            )
            run.last_status = 1
            return
        if name == "mv":
            run.touch("rm", operands[0])
        run.touch("add", operands[-1])
        run.last_status = 0
        return
    if name == "cat" and operands:
        missing = [p for p in operands if not run.has(p)]
        for path in missing if not redirect else []:
            run.lines.append((run.clock, f"cat: can't open '{path}': No such file or directory"))
        run.last_status = 1 if missing else 0
        return
    if name in _APPLETS or name in ("sh", "bash"):
        run.last_status = 0
        return
    run.lines.append((run.clock, f"sh: {name}: not found"))
    run.last_status = 127


def _redirects(words: list[str]) -> tuple[list[str], list[str]]:
    """The words without redirections, and the files stdout is redirected to."""
    kept: list[str] = []
    targets: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word in (">", ">>", "1>", "1>>"):
            if i + 1 < len(words):
                targets.append(words[i + 1])
            i += 2
            continue
        if re.match(r"^1?>>?\S", word) and not word.startswith(">&"):
            targets.append(re.sub(r"^1?>>?", "", word))
        elif not re.match(r"^(2|&)>", word) and word not in ("2>&1", ">&2"):
            kept.append(word)
        i += 1
    return kept, targets


def _run_loop(run: ShellRun, body: str) -> None:
    """`while true; do ...; done`: one pass decides the period, the lines of each batch and
    the files each pass creates and removes."""
    trial = ShellRun(clock=0.0, present=dict(run.present))
    _run_script(trial, body)
    if trial.exit_code is not None:
        run.lines.extend((run.clock + t, line) for t, line in trial.lines)
        run.files.extend((run.clock + t, op, path) for t, op, path in trial.files)
        run.clock += trial.clock
        run.exit_code = trial.exit_code
        return
    period = trial.clock if trial.clock > 0 else 1.0
    if period == FOREVER:
        run.lines.extend((run.clock, line) for _, line in trial.lines)
        run.files.extend((run.clock + t, op, path) for t, op, path in trial.files)
        run.clock = FOREVER
        return
    run.loop = (period, tuple(line for _, line in trial.lines))
    run.loop_files = tuple(trial.files)
    run.loop_starts = run.clock
    run.clock = FOREVER


def _run_script(run: ShellRun, script: str) -> None:
    for connector, statement in _statements(script):
        if run.exit_code is not None or run.clock == FOREVER:
            return
        if connector == "&&" and run.last_status != 0:
            continue
        if connector == "||" and run.last_status == 0:
            continue
        loop = re.match(
            r"^(?:while|until)\s+(true|:|\[\s*1\s*\])\s*(?:;|\n)?\s*do\s+(.*)\s*done$",
            statement,
            re.S,
        )
        if loop:
            _run_loop(run, loop.group(2).rstrip().rstrip(";"))
            continue
        if statement.startswith(("for ", "if ", "while ", "until ")):
            run.last_status = 0  # not modelled: treat as a quick success
            continue
        _run_command(run, statement)


def run_shell(argv: list[str]) -> ShellRun:
    """Run a command line (`sh -c SCRIPT`, or a single program) in simulated time."""
    name = argv[0].rsplit("/", 1)[-1]
    if name in ("sh", "bash", "ash", "dash"):
        script = ""
        if "-c" in argv:
            index = argv.index("-c")
            script = argv[index + 1] if index + 1 < len(argv) else ""
        run = ShellRun()
        _run_script(run, script)
    else:
        run = ShellRun()
        _run_command(run, shlex.join(argv))
    return run


# -- exec probes ------------------------------------------------------------------------------
_TEST_FLAGS = {"-f", "-e", "-d", "-s", "-r", "-w", "-x", "-L", "-h"}


@dataclass
class _ProbeRun:
    files: FileTimeline
    state: dict[str, bool]
    offset: float
    took: float = 0.0
    status: int = 0
    output: list[str] = field(default_factory=list)
    exited: bool = False

    def has(self, path: str) -> bool:
        return self.files.exists(path, self.offset, self.state)


def _probe_command(run: _ProbeRun, statement: str) -> None:
    """One command of an exec probe against the container's files at the probe's time.
    Commands that do not look at files succeed (kubesim does not know what they check)."""
    try:
        words = shlex.split(statement)
    except ValueError:
        words = statement.split()
    negate = bool(words) and words[0] == "!"
    if negate:
        words = words[1:]
    words, _ = _redirects(words)
    if not words:
        run.status = 0
        return
    name = words[0].rsplit("/", 1)[-1]
    operands = [w for w in words[1:] if not w.startswith("-")]
    status = 0
    if name == "exit":
        status = int(words[1]) if len(words) > 1 and words[1].lstrip("-").isdigit() else run.status
        run.exited = True
    elif name == "false":
        status = 1
    elif name == "sleep":
        arg = words[1] if len(words) > 1 else "0"
        run.took += FOREVER if arg == "infinity" else quantity.duration_seconds(arg)
    elif name in ("echo", "printf"):
        run.output.append(_echo_text(words[1:]))
    elif name == "cat":
        for path in operands:
            if not run.has(path):
                run.output.append(f"cat: can't open '{path}': No such file or directory")
                status = 1
    elif name in ("test", "["):
        args = words[1:-1] if name == "[" and words[-1:] == ["]"] else words[1:]
        if len(args) == 2 and args[0] in _TEST_FLAGS:
            status = 0 if run.has(args[1]) else 1
        elif len(args) == 3 and args[0] == "!" and args[1] in _TEST_FLAGS:
            status = 1 if run.has(args[2]) else 0
    elif name == "ls":
        for path in operands:
            if not run.has(path):
                run.output.append(f"ls: {path}: No such file or directory")
                status = 1
    elif name == "grep" and len(operands) >= 2:
        for path in operands[1:]:
            if not run.has(path):
                run.output.append(f"grep: {path}: No such file or directory")
                status = 2
    if negate:
        status = 0 if status else 1
    run.status = status


def run_probe(
    argv: list[str], files: FileTimeline, offset: float, timeout: float
) -> tuple[bool, str]:
    """An exec probe's result at `offset` seconds into the container's run: (passed, output).
    A probe that runs `timeoutSeconds` or longer fails as the kubelet reports it."""
    name = argv[0].rsplit("/", 1)[-1] if argv else ""
    if name in SHELLS and "-c" in argv:
        index = argv.index("-c")
        script = argv[index + 1] if index + 1 < len(argv) else ""
    else:
        script = shlex.join(argv)
    run = _ProbeRun(files, files.state(offset), offset)
    for connector, statement in _statements(script):
        if run.exited:
            break
        if connector == "&&" and run.status != 0:
            continue
        if connector == "||" and run.status == 0:
            continue
        _probe_command(run, statement)
    if run.took >= timeout:
        return False, f"command {json.dumps(' '.join(argv))} timed out"
    return run.status == 0, "\n".join(run.output)
