from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcp_server.diagnostics.logs import (
    MAX_ENTRIES,
    MAX_LINE_CHARS,
    MESSAGE_LIMIT,
    PATTERN_ADVICE,
    analyze_log_text,
)

from .conftest import load

# One real-looking line (or block) per pattern, as the runtimes print them.
SAMPLES: dict[str, str] = {
    "connection_error": "ERROR failed to connect to postgres: dial tcp 10.96.0.12:5432: "
    "connect: connection refused",
    "timeout_error": 'level=error msg="upstream request failed" err="context deadline exceeded"',
    "oom_killer": 'Exception in thread "worker" java.lang.OutOfMemoryError: Java heap space',
    "dns_error": "dial tcp: lookup redis.cache.svc.cluster.local on 10.96.0.10:53: no such host",
    "tls_error": 'Get "https://api.internal": x509: certificate signed by unknown authority',
    "permission_denied": "open /var/lib/app/data.db: permission denied",
    "file_not_found": "FileNotFoundError: [Errno 2] No such file or directory: '/data/in.csv'",
    "missing_config": "FATAL: missing required environment variable DATABASE_URL",
    "port_in_use": "listen tcp :8080: bind: address already in use",
    "panic": "panic: runtime error: index out of range [3] with length 3\n\n"
    "goroutine 1 [running]:\nmain.main()\n\t/app/main.go:9 +0x1d\nexit status 2",
    "go_stack_trace": "goroutine 7 [chan receive]:\nmain.worker(0xc000012345)\n"
    "\t/app/worker.go:20 +0x45\ncreated by main.main\n\t/app/main.go:12 +0x88",
    "python_traceback": 'Traceback (most recent call last):\n  File "/app/run.py", line 3, '
    'in <module>\n    run()\n  File "/app/run.py", line 2, in run\n    1 / 0\n'
    "ZeroDivisionError: division by zero",
    "java_exception": 'Exception in thread "main" java.lang.IllegalArgumentException: bad\n'
    "\tat com.example.App.parse(App.java:42)\n\tat com.example.App.main(App.java:12)",
}


@pytest.mark.parametrize("pattern", sorted(SAMPLES))
def test_each_pattern_is_recognised_with_advice(pattern: str) -> None:
    result = analyze_log_text("INFO all good\n" + SAMPLES[pattern] + "\nINFO still fine\n")
    assert [e.pattern for e in result.errors] == [pattern]
    assert result.error_patterns[pattern] == 1
    assert PATTERN_ADVICE[pattern]
    assert set(PATTERN_ADVICE[pattern]) <= set(result.recommendations)


def test_spec_shape_counts_and_timestamps() -> None:
    text = "\n".join(
        f"2025-10-25T10:30:{i:02d}.123456789Z ERROR Failed to connect to database: "
        "connection refused"
        for i in range(15)
    )
    text += "\n2025-10-25T10:31:00Z WARN retry 3 timed out\n"
    result = analyze_log_text(text, container="nginx")
    assert result.container == "nginx"
    assert result.total_lines == 16
    assert result.error_patterns == {"connection_error": 15, "timeout_error": 1}
    first = result.errors[0]
    assert first.timestamp == "2025-10-25T10:30:00.123456789Z"
    assert first.level == "ERROR"
    assert first.message.endswith("Failed to connect to database: connection refused")
    assert "Check network connectivity" in result.recommendations
    assert result.errors[-1].level == "WARNING"


def test_python_traceback_is_one_entry_with_its_exception() -> None:
    result = analyze_log_text(SAMPLES["python_traceback"] + "\nINFO next request")
    assert len(result.errors) == 1
    entry = result.errors[0]
    assert entry.lines == 6
    assert entry.message.startswith("ZeroDivisionError: division by zero")


def test_go_panic_groups_goroutine_dump_and_counts_once() -> None:
    result = analyze_log_text(SAMPLES["panic"])
    assert len(result.errors) == 1
    assert result.errors[0].lines == 6
    assert result.error_patterns == {"panic": 1}


def test_java_exception_with_caused_by_counts_the_cause() -> None:
    text = (
        "2025-10-25T10:30:45Z ERROR [main] c.e.App - startup failed\n"
        "2025-10-25T10:30:45Z java.lang.IllegalStateException: cannot start\n"
        "2025-10-25T10:30:45Z \tat com.example.App.start(App.java:10)\n"
        "2025-10-25T10:30:45Z Caused by: java.net.ConnectException: Connection refused\n"
        "2025-10-25T10:30:45Z \t... 4 more\n"
    )
    result = analyze_log_text(text)
    assert result.total_lines == 5
    assert [e.pattern for e in result.errors] == ["java_exception"]
    assert result.errors[0].lines == 5
    assert result.error_patterns == {"java_exception": 1, "connection_error": 1}


def test_json_lines() -> None:
    text = (
        '{"level":"info","ts":"2025-10-25T10:30:44Z","msg":"listening"}\n'
        '{"level":"error","ts":"2025-10-25T10:30:45Z","msg":"db ping failed",'
        '"error":"dial tcp: i/o timeout"}\n'
        '{"severity":"WARNING","time":"2025-10-25T10:30:46Z","message":"slow query"}\n'
        '{"levelname":"ERROR","message":"unexpected state"}\n'
    )
    result = analyze_log_text(text)
    assert [(e.level, e.pattern) for e in result.errors] == [
        ("ERROR", "timeout_error"),
        ("ERROR", "unclassified"),
    ]
    assert result.errors[0].timestamp == "2025-10-25T10:30:45Z"
    assert result.errors[0].message == "db ping failed | dial tcp: i/o timeout"
    assert [w.message for w in result.warnings] == ["slow query"]


def test_pino_numeric_levels_and_nested_errors() -> None:
    result = analyze_log_text(
        '{"level":30,"time":1700000000000,"msg":"listening on 3000"}\n'
        '{"level":50,"time":1700000001000,"msg":"request failed",'
        '"err":{"type":"Error","message":"connect ECONNREFUSED 10.0.0.9:6379"}}\n'
        '{"level":40,"time":1700000002000,"msg":"retrying"}\n'
    )
    [error] = result.errors
    assert (error.level, error.pattern) == ("ERROR", "connection_error")
    assert error.message == "request failed | connect ECONNREFUSED 10.0.0.9:6379"
    assert error.timestamp == "1700000001000"
    assert result.warning_count == 1


def test_klog_and_logfmt_levels() -> None:
    result = analyze_log_text(
        "E1025 10:30:45.123456       1 reflector.go:138] watch failed: unexpected EOF\n"
        "W1025 10:30:46.000001       1 client.go:10] slow\n"
        'time=2025-10-25T10:30:45Z level=error msg="boom"\n'
    )
    assert [e.level for e in result.errors] == ["ERROR", "ERROR"]
    assert result.warning_count == 1


def test_fail_is_an_error_level() -> None:
    result = analyze_log_text(
        "stress: info: [1] dispatching hogs: 0 cpu, 0 io, 1 vm, 0 hdd\n"
        "stress: FAIL: [1] (415) <-- worker 7 got signal 9\n"
    )
    assert [(e.level, e.pattern) for e in result.errors] == [("ERROR", "unclassified")]


def test_info_and_debug_chatter_is_not_an_error() -> None:
    result = analyze_log_text(
        "INFO request served in 3ms\nDEBUG set timeout to 30s\nINFO cache warm\n"
    )
    assert result.errors == []
    assert result.error_patterns == {}


def test_noisy_healthy_logs_fixture() -> None:
    data = load("healthy-noisy")
    result = analyze_log_text(data["logs_current"])
    assert result.error_count == 0
    assert result.warning_count >= 1


def test_secrets_in_logs_are_redacted() -> None:
    result = analyze_log_text(
        "ERROR connect failed: postgres://app:S3cr3tPassw0rd@db:5432/app connection refused\n"
        "ERROR auth failed with token=ghp_abcdefghijklmnopqrstuvwxyz0123456789\n"
    )
    blob = result.model_dump_json()
    assert "S3cr3tPassw0rd" not in blob
    assert "ghp_abcdefghijklmnopqrstuvwxyz0123456789" not in blob


def test_control_characters_and_ansi_are_stripped() -> None:
    result = analyze_log_text("\x1b[31mERROR\x1b[0m connection refused\x07\x00 now")
    assert result.errors[0].message == "ERROR connection refused   now"


def test_bounds_on_entries_and_message_length() -> None:
    text = "\n".join(f"ERROR connection refused #{i} " + "x" * 10_000 for i in range(300))
    result = analyze_log_text(text)
    assert result.error_count == 300
    assert result.error_patterns == {"connection_error": 300}
    assert len(result.errors) == MAX_ENTRIES
    assert result.truncated
    assert all(len(e.message) <= MESSAGE_LIMIT for e in result.errors)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=3000))
def test_arbitrary_text_never_raises_and_is_bounded(text: str) -> None:
    result = analyze_log_text(text)
    assert result.total_lines == len(text.splitlines())
    assert len(result.errors) <= MAX_ENTRIES
    assert len(result.warnings) <= MAX_ENTRIES
    assert all(len(e.message) <= MESSAGE_LIMIT for e in result.errors + result.warnings)
    assert sum(result.error_patterns.values()) >= result.error_count


@settings(max_examples=30, deadline=None)
@given(st.text(alphabet='(){}[]"\\: \t.aA1-_/*', min_size=0, max_size=200), st.integers(1, 50))
def test_adversarial_long_lines_are_clipped(chunk: str, repeat: int) -> None:
    line = (chunk or "x") * (MAX_LINE_CHARS // max(1, len(chunk)) * repeat)
    result = analyze_log_text("ERROR " + line + "\n" + "\t" + line)
    assert all(len(e.message) <= MESSAGE_LIMIT for e in result.errors)


_fragments = st.sampled_from(
    [s for sample in SAMPLES.values() for s in sample.split()]
    + ["ECONNREFUSED", "NXDOMAIN", "OOMKilled", "EACCES", "SSLError", "KeyError: 'x'"]
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(_fragments, st.text(max_size=12)), max_size=25))
def test_gates_never_hide_a_match(words: list[str]) -> None:
    from mcp_server.diagnostics.logs import PATTERNS, _Budget, _match_patterns

    text = " ".join(words)
    ungated = [name for name, pattern in PATTERNS.items() if pattern.search(text)]
    assert _match_patterns(text, _Budget()) == ungated


def test_work_budget_marks_truncation_but_keeps_counting() -> None:
    from mcp_server.diagnostics import logs

    line = "connection refused timeout no such host " * 50
    result = analyze_log_text("\n".join([line] * 3000))
    assert result.total_lines == 3000
    assert result.truncated  # the scan budget ran out before the last lines
    assert 0 < result.error_count <= 3000
    assert logs.MAX_SCAN_CHARS < 3000 * len(line) * 3


def test_logging_exception_attaches_the_traceback_to_its_error_line() -> None:
    text = (
        "2025-10-25T10:30:45Z ERROR:app:payment failed\n"
        "2025-10-25T10:30:45Z Traceback (most recent call last):\n"
        '2025-10-25T10:30:45Z   File "/app/pay.py", line 8, in charge\n'
        "2025-10-25T10:30:45Z     conn = pool.get()\n"
        "2025-10-25T10:30:45Z KeyError: 'PAYMENT_API_URL'\n"
        "2025-10-25T10:30:46Z INFO:app:next request\n"
    )
    result = analyze_log_text(text)
    [entry] = result.errors
    assert entry.lines == 5
    assert entry.pattern == "python_traceback"
    assert entry.message == (
        "ERROR:app:payment failed: KeyError: 'PAYMENT_API_URL' (Python traceback, 5 lines)"
    )
    assert result.error_patterns == {"python_traceback": 1, "missing_config": 1}


def test_chained_tracebacks_do_not_swallow_following_lines() -> None:
    text = (
        SAMPLES["python_traceback"]
        + "\n\nDuring handling of the above exception, another exception occurred:\n\n"
        + SAMPLES["python_traceback"].replace("ZeroDivisionError", "RuntimeError")
        + "\nINFO recovered\nERROR later failure\n"
    )
    result = analyze_log_text(text)
    messages = [e.message for e in result.errors]
    assert messages[0].startswith("ZeroDivisionError")
    assert any(m.startswith("RuntimeError") for m in messages)
    assert messages[-1] == "ERROR later failure"
