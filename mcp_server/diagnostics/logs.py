"""Log analysis behind `analyze_logs`: levels, error patterns, stack traces, advice.

Log text is untrusted data written by the workload. It is only ever matched against fixed
patterns and copied out (redacted, stripped of control characters, clipped): it is never
interpreted. Work is bounded: lines are cut to MAX_LINE_CHARS before any pattern runs, at most
MAX_LINES lines are read, and at most MAX_ENTRIES entries are returned (counts stay exact).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from mcp_server.redaction import lower_pattern, redact

from ._obj import clip

MAX_LINE_CHARS = 4096
MAX_LINES = 20_000
MAX_ENTRIES = 100
MESSAGE_LIMIT = 500
MAX_GROUP_LINES = 200
MAX_MATCH_CHARS = 2048  # of one entry's text (its head and its tail), for the patterns
# Total text read per analysis; lines past it are counted but not parsed (truncated=True).
MAX_TOTAL_CHARS = 4_000_000
# Total characters all pattern regexes together may scan in one analysis: ordinary lines pass
# no gate and cost nothing; past this, lines are still counted but no longer classified.
MAX_SCAN_CHARS = 4_000_000
_JSON_LIMIT = MAX_LINE_CHARS


class LogEntry(BaseModel):
    timestamp: str | None = None
    level: str = "ERROR"
    message: str
    pattern: str
    patterns: list[str] = Field(default_factory=list)  # every pattern the entry matched
    line: int = Field(ge=1)  # 1-based line number of the entry's first line
    lines: int = Field(default=1, ge=1)  # how many lines were grouped (stack traces)


class LogAnalysis(BaseModel):
    """The `analyze_logs` result (the tool adds success, pod and namespace)."""

    success: bool = True
    container: str | None = None
    total_lines: int = 0
    errors: list[LogEntry] = Field(default_factory=list)
    warnings: list[LogEntry] = Field(default_factory=list)
    error_patterns: dict[str, int] = Field(default_factory=dict)
    warning_count: int = 0
    error_count: int = 0
    truncated: bool = False  # more entries (or lines) than returned; counts stay exact
    recommendations: list[str] = Field(default_factory=list)


# Ordered most specific first: an entry's `pattern` is the first that matches.
_PATTERN_SOURCES: tuple[tuple[str, str], ...] = (
    (
        "oom_killer",
        r"out of memory|oomkilled|oom-kill|oom_kill|\boom killer|java\.lang\.OutOfMemoryError|"
        r"\bMemoryError\b|cannot allocate memory|heap out of memory|memory limit exceeded|"
        r"std::bad_alloc",
    ),
    ("panic", r"^panic: |^fatal error: |\bpanic\(|\[recovered\]|runtime error: "),
    ("go_stack_trace", r"^goroutine \d+ \[[^\]]{1,100}\]:"),
    ("python_traceback", r"^Traceback \(most recent call last\):"),
    (
        "java_exception",
        r"^Exception in thread |^Caused by: |^\s*at [\w$.<>]{1,300}\([\w$.]{0,200}(?::\d+)?\)|"
        # JVM class names under the usual roots (a bare "module.SomeError" is Python's too).
        r"\b(?:java|javax|jakarta|org|com|io|net|kotlin|scala|android|sun|jdk|akka|reactor)"
        r"\.(?:[\w$]{1,60}\.){0,12}[A-Z][\w$]{0,100}(?:Exception|Error|Throwable)\b",
    ),
    (
        "port_in_use",
        r"address already in use|EADDRINUSE|port is already allocated|port \d+ is already in use|"
        r"bind\(\) to \S+ failed",
    ),
    (
        "tls_error",
        r"\bx509: |certificate verify failed|CERTIFICATE_VERIFY_FAILED|tls: |"
        r"\bSSL(?:Error|Handshake)|ssl\.SSLError|handshake failure|certificate has expired|"
        r"unknown authority|"
        r"self[- ]signed certificate|PKIX path building failed",
    ),
    (
        "dns_error",
        r"no such host|name or service not known|temporary failure in name resolution|"
        r"\bENOTFOUND\b|\bEAI_AGAIN\b|\bNXDOMAIN\b|UnknownHostException|could not resolve host|"
        r"server misbehaving|nodename nor servname",
    ),
    (
        "permission_denied",
        r"permission denied|\bEACCES\b|operation not permitted|\bEPERM\b|AccessDenied|"
        r"access denied|403 Forbidden|\bis forbidden\b|PermissionError|read-only file system",
    ),
    (
        "missing_config",
        r"(?:config(?:uration)?|settings|properties|\.ya?ml|\.json|\.toml|\.ini|\.env)\b.{0,80}"
        r"(?:not found|missing|does not exist|no such file)|"
        r"missing (?:required )?(?:env(?:ironment)? var(?:iable)?|config(?:uration)?|setting|key)|"
        r"(?:env(?:ironment)? var(?:iable)?|config(?:uration)?) \S{1,80} (?:is )?"
        r"(?:not set|missing|required|undefined)|KeyError: |required key \S{1,80} (?:is )?missing",
    ),
    (
        "file_not_found",
        r"no such file or directory|\bENOENT\b|FileNotFoundError|FileNotFoundException|"
        r"file not found|cannot find (?:the )?file|cannot open file",
    ),
    (
        "timeout_error",
        r"timed out|\btimeout\b|deadline exceeded|DeadlineExceeded|\bETIMEDOUT\b|"
        r"SocketTimeoutException|TimeoutError|i/o timeout|504 Gateway",
    ),
    (
        "connection_error",
        r"connection refused|\bECONNREFUSED\b|connection reset|\bECONNRESET\b|"
        r"(?:could not|couldn't|failed to|unable to|cannot) connect|no route to host|"
        r"network is unreachable|broken pipe|connection (?:aborted|closed)|\bEHOSTUNREACH\b|"
        r"ConnectionError|ConnectException|503 Service Unavailable",
    ),
)
PATTERNS: dict[str, re.Pattern[str]] = {
    name: re.compile(source, re.IGNORECASE | re.MULTILINE) for name, source in _PATTERN_SOURCES
}
# Case matters for these (Java class names, Go's "panic: " at line start).
PATTERNS["java_exception"] = re.compile(_PATTERN_SOURCES[4][1], re.MULTILINE)
PATTERNS["panic"] = re.compile(_PATTERN_SOURCES[1][1], re.MULTILINE)
PATTERNS["go_stack_trace"] = re.compile(_PATTERN_SOURCES[2][1], re.MULTILINE)
PATTERNS["python_traceback"] = re.compile(_PATTERN_SOURCES[3][1], re.MULTILINE)
# Case-insensitive regexes are slow in Python: their lowercase twins run on lowercased text.
_FOLDED: dict[str, re.Pattern[str]] = {
    name: re.compile(lower_pattern(pattern.pattern), re.MULTILINE)
    for name, pattern in PATTERNS.items()
    if pattern.flags & re.IGNORECASE
}

# Lowercase substrings one of which every match of the pattern contains: the regex runs only
# when the line has one, so ordinary lines cost a few substring searches, not 13 regexes.
PATTERN_GATES: dict[str, tuple[str, ...]] = {
    "oom_killer": ("memory", "oom", "bad_alloc"),
    "panic": ("panic", "fatal error: ", "[recovered]", "runtime error: "),
    "go_stack_trace": ("goroutine ",),
    "python_traceback": ("traceback (most recent call last):",),
    "java_exception": ("exception", "error", "caused by: ", "at "),
    "port_in_use": ("already in use", "eaddrinuse", "already allocated", "bind()"),
    "tls_error": (
        "x509",
        "certificate",
        "tls: ",
        "ssl",
        "handshake",
        "unknown authority",
        "pkix",
    ),
    "dns_error": (
        "no such host",
        "name or service",
        "name resolution",
        "enotfound",
        "eai_again",
        "nxdomain",
        "unknownhost",
        "resolve host",
        "misbehaving",
        "servname",
    ),
    "permission_denied": (
        "permission",
        "eacces",
        "not permitted",
        "eperm",
        "accessdenied",
        "access denied",
        "403 forbidden",
        "forbidden",
        "read-only file system",
    ),
    "missing_config": (
        "not found",
        "missing",
        "does not exist",
        "no such file",
        "not set",
        "required",
        "undefined",
        "keyerror: ",
    ),
    "file_not_found": (
        "no such file",
        "enoent",
        "filenotfound",
        "file not found",
        "cannot find",
        "cannot open file",
    ),
    "timeout_error": ("timed out", "timeout", "deadline", "etimedout", "504 gateway"),
    "connection_error": (
        "connection",
        "econn",
        "connect",
        "no route",
        "unreachable",
        "broken pipe",
        "ehostunreach",
        "503 service",
    ),
}

UNCLASSIFIED = "unclassified"
# Stack-trace kinds: an entry counts under one of them at most (a panic carries a goroutine
# dump), while the causes it mentions (connection refused...) are counted too.
TRACE_KINDS = ("panic", "go_stack_trace", "python_traceback", "java_exception")

PATTERN_ADVICE: dict[str, tuple[str, ...]] = {
    "oom_killer": (
        "Increase memory limits",
        "Profile the application's memory use (leaks, unbounded caches)",
    ),
    "panic": (
        "Fix the panic at the top of the Go stack trace; roll back if it is new in this release",
    ),
    "go_stack_trace": ("Read the goroutine dump for a deadlock or a crash site",),
    "python_traceback": ("Fix the exception at the bottom of the Python traceback",),
    "java_exception": ("Fix the exception and its root cause (the last 'Caused by:')",),
    "port_in_use": (
        "Check for two processes (or containers sharing the pod network) binding the same port",
    ),
    "tls_error": (
        "Check certificates: expiry, CA bundle, hostname (SAN) and the TLS settings of both ends",
    ),
    "dns_error": (
        "Check the service name and namespace in the address",
        "Check cluster DNS (CoreDNS) and the pod's dnsPolicy",
    ),
    "permission_denied": (
        "Check file ownership, securityContext (runAsUser, fsGroup) and RBAC permissions",
    ),
    "missing_config": (
        "Check the ConfigMaps, Secrets and environment variables the application expects",
    ),
    "file_not_found": ("Check volume mounts and paths the application reads",),
    "timeout_error": (
        "Check the latency and health of the upstream dependency",
        "Review client timeouts and retries",
    ),
    "connection_error": (
        "Check network connectivity",
        "Verify service endpoints",
        "Check that the dependency is running and ready",
    ),
    UNCLASSIFIED: ("Review the error lines in the logs",),
}

_TS_PREFIX = re.compile(
    r"^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?)\s"
)
_LEVEL_NAMES_RE = (
    r"FATAL|CRITICAL|CRIT|PANIC|EMERG(?:ENCY)?|ALERT|ERROR|ERR|SEVERE|FAIL(?:ED|URE)?|WARNING|WARN|"
    r"NOTICE|INFO|DEBUG|TRACE"
)
# Upper case anywhere as a word ("ERROR", "[WARN]"); any case only where it reads as a level
# ("[error]", "error:", "Error:" at the start), so a path like /error-pages/ is not one.
_LEVEL_WORD = re.compile(r"\b(" + _LEVEL_NAMES_RE + r")\b")
_LEVEL_LOOSE = re.compile(
    r"(?i)(?:^|\[|<)(" + _LEVEL_NAMES_RE + r")(?:\]|>|:|\s*\|)|^\s*(" + _LEVEL_NAMES_RE + r")\s"
)
_LEVEL_KV = re.compile(r"\b(?:level|lvl|severity)=\"?([A-Za-z]{1,12})", re.IGNORECASE)
_KLOG = re.compile(r"^([EWIF])\d{4} \d{2}:\d{2}:\d{2}\.\d+\s")
_ANSI = re.compile(r"\x1b\[[0-9;?]{0,32}[ -/]{0,4}[@-~]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

_ERROR_LEVELS = frozenset({"ERROR", "FATAL", "CRITICAL", "PANIC"})
_WARNING_LEVELS = frozenset({"WARNING"})
_LEVEL_NAMES = {
    "FATAL": "FATAL",
    "CRITICAL": "CRITICAL",
    "CRIT": "CRITICAL",
    "PANIC": "PANIC",
    "EMERG": "CRITICAL",
    "EMERGENCY": "CRITICAL",
    "ALERT": "CRITICAL",
    "ERROR": "ERROR",
    "ERR": "ERROR",
    "SEVERE": "ERROR",
    "FAIL": "ERROR",
    "FAILED": "ERROR",
    "FAILURE": "ERROR",
    "WARNING": "WARNING",
    "WARN": "WARNING",
    "NOTICE": "INFO",
    "INFO": "INFO",
    "DEBUG": "DEBUG",
    "TRACE": "DEBUG",
}
_NUMERIC_LEVELS = {10: "DEBUG", 20: "DEBUG", 30: "INFO", 40: "WARNING", 50: "ERROR", 60: "FATAL"}
_KLOG_LEVELS = {"E": "ERROR", "W": "WARNING", "I": "INFO", "F": "FATAL"}

# A Go frame's function line: "main.main()", "net/http.(*conn).serve(0xc000...)".
_GO_FRAME = re.compile(
    r"^(?:\[signal |goroutine \d+ \[|created by |exit status \d|"
    r"[\w/\-]{1,200}(?:\.\(\*?\w{1,100}\))?(?:\.[\w\-]{1,100}){0,8}\()"
)
_GO_HEADS = ("panic: ", "fatal error: ", "goroutine ")
# A Java exception line ("java.lang.IllegalStateException: ...") right after an error line.
_JAVA_EXCEPTION_LINE = re.compile(
    r"^(?:[a-z_][\w$]{0,60}\.){1,12}[A-Z][\w$]{0,100}(?:Exception|Error|Throwable)\b"
)

# Lines that continue the entry above them (stack frames and trace furniture).
_CONTINUATION = re.compile(
    r"^(?:\s+\S|\s*at [\w$.<>]+\(|Caused by: |\s*\.\.\. \d+ more|Suppressed: |"
    r"During handling of the above exception|The above exception was the direct cause)"
)


def _clean(text: str) -> str:
    return _CONTROL.sub(" ", _ANSI.sub("", text))


def _normalise_level(word: str | None) -> str | None:
    if not word:
        return None
    return _LEVEL_NAMES.get(word.upper())


@dataclass
class _Line:
    number: int
    timestamp: str | None
    text: str  # without the timestamp prefix, control characters removed, clipped
    level: str | None
    message: str  # the human message (from JSON: msg/message; else the text)


def _parse_json(text: str) -> tuple[str | None, str | None, str] | None:
    if not (text.startswith("{") and text.endswith("}")) or len(text) > _JSON_LIMIT:
        return None
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(doc, dict):
        return None
    level: str | None = None
    for key in ("level", "lvl", "severity", "levelname", "log.level", "loglevel"):
        value = doc.get(key)
        if isinstance(value, str):
            level = _normalise_level(value)
            break
        if isinstance(value, int) and not isinstance(value, bool):
            level = _NUMERIC_LEVELS.get(value // 10 * 10)  # pino / bunyan: 50 is error
            break
    ts: str | None = None
    for key in ("timestamp", "@timestamp", "time", "ts", "datetime"):
        value = doc.get(key)
        if isinstance(value, str):
            ts = clip(value, 64)
            break
        if isinstance(value, int | float) and not isinstance(value, bool):
            ts = str(value)
            break
    parts: list[str] = []
    for key in ("msg", "message", "error", "err", "exception", "stack_trace", "stacktrace"):
        value = doc.get(key)
        if isinstance(value, dict):  # {"err": {"type": "...", "message": "..."}}
            value = value.get("message") or value.get("msg")
        if isinstance(value, str) and value and value not in parts:
            parts.append(value)
    message = " | ".join(parts) if parts else text
    return level, ts, message


def _parse_line(number: int, raw: str) -> _Line:
    raw = raw[:MAX_LINE_CHARS]
    timestamp: str | None = None
    match = _TS_PREFIX.match(raw)
    if match:
        timestamp = match.group(1)
        raw = raw[match.end() :]
    text = _clean(raw.rstrip("\r"))
    level: str | None = None
    message = text
    parsed = _parse_json(text.strip())
    if parsed is not None:
        level, json_ts, message = parsed
        timestamp = timestamp or json_ts
        message = _clean(message)
    if level is None:
        klog = _KLOG.match(text)
        if klog:
            level = _KLOG_LEVELS[klog.group(1)]
    if level is None:
        kv = _LEVEL_KV.search(text, 0, 300)
        if kv:
            level = _normalise_level(kv.group(1))
    if level is None:
        word = _LEVEL_WORD.search(text, 0, 120)
        if word:
            level = _normalise_level(word.group(1))
    if level is None:
        loose = _LEVEL_LOOSE.search(text, 0, 120)
        if loose:
            level = _normalise_level(loose.group(1) or loose.group(2))
    return _Line(number=number, timestamp=timestamp, text=text, level=level, message=message)


_TRACEBACK = "Traceback (most recent call last):"
_CHAINED = ("During handling of the above exception", "The above exception was the direct cause")


@dataclass
class _Group:
    head: _Line
    body: list[_Line] = field(default_factory=list)
    extra: int = 0  # continuation lines dropped past MAX_GROUP_LINES
    traceback: bool = False  # holds a Python traceback (as its head or after an error line)

    def __post_init__(self) -> None:
        self.traceback = self.head.text.startswith(_TRACEBACK)

    def text(self) -> str:
        return "\n".join([self.head.message] + [line.text for line in self.body])

    def add(self, line: _Line) -> None:
        if line.text.startswith(_TRACEBACK):
            self.traceback = True
        if len(self.body) < MAX_GROUP_LINES:
            self.body.append(line)
        else:
            self.extra += 1


def _is_continuation(line: _Line, group: _Group | None) -> bool:
    if group is None:
        return False
    text = line.text
    error_head = group.head.level in _ERROR_LEVELS or group.head.level in _WARNING_LEVELS
    # logging.exception(): the error line, then the traceback it printed.
    if text.startswith(_TRACEBACK) and error_head and not group.traceback and not group.body:
        return True
    if line.level is not None and not text[:1].isspace():
        return False
    if not text.strip():
        # Blank lines belong to a Go panic (panic, blank, goroutine...) but end other entries.
        return group.head.text.startswith(_GO_HEADS)
    if _CONTINUATION.match(text):
        return True
    if group.head.text.startswith(_GO_HEADS) and _GO_FRAME.match(text):
        return True
    if error_head and _JAVA_EXCEPTION_LINE.match(text):
        return True
    # The exception line that ends a Python traceback ("ValueError: bad input").
    if group.traceback and group.body:
        return group.body[-1].text[:1].isspace() and not text[:1].isspace()
    return False


def _ends_traceback(line: _Line) -> bool:
    text = line.text
    return (
        bool(text.strip())
        and not text[:1].isspace()
        and not text.startswith((_TRACEBACK, *_CHAINED))
    )


def _group_lines(lines: Iterable[_Line]) -> list[_Group]:
    groups: list[_Group] = []
    current: _Group | None = None
    for line in lines:
        if current is not None and _is_continuation(line, current):
            current.add(line)
            if current.traceback and _ends_traceback(line):
                current = None  # a Python traceback ends with its exception line
            continue
        current = _Group(head=line)
        groups.append(current)
    return groups


def _summary(group: _Group) -> str:
    """The entry's message: the head line, plus the exception line of a Python traceback."""
    head = group.head.message.strip()
    size = len(group.body) + group.extra + 1
    if group.traceback:
        ends = [line.text.strip() for line in group.body if _ends_traceback(line)]
        exception = ends[-1] if ends else None
        if group.head.text.startswith(_TRACEBACK):
            head = f"{exception or head} (Python traceback, {size} lines)"
        elif exception:
            head = f"{head}: {exception} (Python traceback, {size} lines)"
        else:
            head = f"{head} (Python traceback, {size} lines)"
    elif group.body:
        head = f"{head} (+{size - 1} lines of stack trace)"
    return clip(redact(head), MESSAGE_LIMIT)


def _match_patterns(text: str, budget: _Budget) -> list[str]:
    """The patterns the text matches; gated by cheap substring checks, bounded by `budget`."""
    if len(text) > MAX_MATCH_CHARS:
        # Keep both ends: a traceback's exception is at the bottom, a log line's cause on top.
        half = MAX_MATCH_CHARS // 2
        text = text[:half] + "\n" + text[-half:]
    lowered = text.lower()
    found: list[str] = []
    for name, pattern in PATTERNS.items():
        for word in PATTERN_GATES[name]:
            if word in lowered:
                break
        else:
            continue
        if budget.remaining < len(text):
            budget.exhausted = True
            break
        budget.remaining -= len(text)
        folded = _FOLDED.get(name)
        if folded is not None and len(lowered) == len(text):
            hit = folded.search(lowered) is not None
        else:
            hit = pattern.search(text) is not None
        if hit:
            found.append(name)
    return found


@dataclass
class _Budget:
    """Characters the pattern regexes may still scan for one analysis (a bound on the work)."""

    remaining: int = MAX_SCAN_CHARS
    exhausted: bool = False


def _parse_lines(raw_lines: Iterable[str]) -> tuple[list[_Line], int, bool]:
    """(parsed lines, lines counted, truncated): at most MAX_LINES counted, and lines past
    MAX_TOTAL_CHARS of text counted but not parsed."""
    parsed: list[_Line] = []
    total = 0
    truncated = False
    read = 0
    for total, raw in enumerate(raw_lines, start=1):  # noqa: B007 - total is the count
        if total > MAX_LINES:
            truncated = True
            total = MAX_LINES
            break
        if read > MAX_TOTAL_CHARS:
            truncated = True  # still counted, no longer parsed
            continue
        read += min(len(raw), MAX_LINE_CHARS)
        parsed.append(_parse_line(total, raw))
    return parsed, total, truncated


def _entry(group: _Group, level: str, pattern: str, found: list[str]) -> LogEntry:
    return LogEntry(
        timestamp=group.head.timestamp,
        level=level,
        message=_summary(group),
        pattern=pattern,
        patterns=found,
        line=group.head.number,
        lines=1 + len(group.body) + group.extra,
    )


def _record_warning(analysis: LogAnalysis, group: _Group, max_entries: int) -> bool:
    """Count a warning group and keep its entry; True when the entries are full."""
    analysis.warning_count += 1
    if len(analysis.warnings) >= max_entries:
        return True
    analysis.warnings.append(_entry(group, "WARNING", UNCLASSIFIED, []))
    return False


def _record_error(
    analysis: LogAnalysis,
    group: _Group,
    found: list[str],
    counts: dict[str, int],
    max_entries: int,
) -> bool:
    """Count an error group under its patterns and keep its entry; True when the entries are
    full."""
    pattern = found[0] if found else UNCLASSIFIED
    counted = [pattern] + [n for n in found[1:] if n not in TRACE_KINDS]
    for name in counted:
        counts[name] = counts.get(name, 0) + 1
    analysis.error_count += 1
    if len(analysis.errors) >= max_entries:
        return True
    analysis.errors.append(_entry(group, group.head.level or "ERROR", pattern, found))
    return False


def analyze_log_text(
    text: str | Iterable[str],
    *,
    container: str | None = None,
    max_entries: int = MAX_ENTRIES,
) -> LogAnalysis:
    """Analyse log text (as `kubectl logs` returns it, timestamps optional)."""
    raw_lines: Iterable[str] = text.splitlines() if isinstance(text, str) else text
    parsed, total, truncated = _parse_lines(raw_lines)
    analysis = LogAnalysis(container=container, total_lines=total)
    counts: dict[str, int] = {}
    budget = _Budget()
    for group in _group_lines(parsed):
        found = _match_patterns(group.text(), budget)
        level = group.head.level
        if level in ("DEBUG",) and not group.body:
            continue  # debug chatter mentioning "timeout" is not an error
        if found or level in _ERROR_LEVELS:
            truncated = _record_error(analysis, group, found, counts, max_entries) or truncated
        elif level in _WARNING_LEVELS:
            truncated = _record_warning(analysis, group, max_entries) or truncated
    analysis.error_patterns = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    analysis.truncated = truncated or budget.exhausted
    analysis.recommendations = recommendations_for_patterns(analysis.error_patterns)
    return analysis


def recommendations_for_patterns(counts: dict[str, int]) -> list[str]:
    out: list[str] = []
    for name in sorted(counts, key=lambda n: -counts[n]):
        for line in PATTERN_ADVICE.get(name, ()):
            if line not in out:
                out.append(line)
    return out
