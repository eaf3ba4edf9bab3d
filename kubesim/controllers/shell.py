"""A very small shell: enough of sh to know what a container's script prints, how long it
runs and how it exits (echo, sleep, exit, true/false, while-true loops, && and ||)."""

from __future__ import annotations

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


@dataclass
class ShellRun:
    """What a script did: its lines (with offsets), how long it ran, how it ended."""

    clock: float = 0.0
    lines: list[tuple[float, str]] = field(default_factory=list)
    exit_code: int | None = None  # set once the script exits
    last_status: int = 0
    loop: tuple[float, tuple[str, ...]] | None = None  # (period, lines) repeated forever
    loop_starts: float = 0.0


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
    redirect = any(w.startswith(">") for w in words)
    words = [w for w in words if not w.startswith(">") and w not in ("2>&1",)]
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
    if name == "cat" and len(words) > 1 and not redirect:
        run.lines.append((run.clock, f"cat: can't open '{words[1]}': No such file or directory"))
        run.last_status = 1
        return
    if name in _APPLETS or name in ("sh", "bash"):
        run.last_status = 0
        return
    run.lines.append((run.clock, f"sh: {name}: not found"))
    run.last_status = 127


def _run_loop(run: ShellRun, body: str) -> None:
    """`while true; do ...; done`: one pass decides the period and the lines of each batch."""
    trial = ShellRun(clock=0.0)
    _run_script(trial, body)
    if trial.exit_code is not None:
        run.lines.extend((run.clock + t, line) for t, line in trial.lines)
        run.clock += trial.clock
        run.exit_code = trial.exit_code
        return
    period = trial.clock if trial.clock > 0 else 1.0
    if period == FOREVER:
        run.lines.extend((run.clock, line) for _, line in trial.lines)
        run.clock = FOREVER
        return
    run.loop = (period, tuple(line for _, line in trial.lines))
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
