"""Structured logs: one JSON object a line with the incident fields, text on a terminal."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import threading
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubemedic import logging_setup
from kubemedic.logging_setup import configure_logging, log_context
from kubemedic.settings import Settings
from kubemedic_logctx import current_context


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
    for h in handlers:
        if h not in root.handlers:
            root.addHandler(h)
    root.setLevel(level)
    for name in logging_setup._CHATTY:  # leave library loggers as other tests expect them
        logging.getLogger(name).setLevel(logging.NOTSET)


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    # splitlines, not split("\n"): a reader that honours Unicode line breaks must see one line.
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_line_carries_context_and_extra_fields() -> None:
    out = io.StringIO()
    configure_logging("json", "INFO", out)
    log = logging.getLogger("kubemedic.test")
    with log_context(incident_id="inc-1", thread_id="inc-1", target="default/web-1"):
        log.info("deleting %s", "web-1", extra={"action": "delete_pod", "attempt": 2})
    log.info("outside")

    first, second = _lines(out)
    assert first["message"] == "deleting web-1"
    assert first["level"] == "INFO"
    assert first["logger"] == "kubemedic.test"
    assert first["incident_id"] == "inc-1"
    assert first["thread_id"] == "inc-1"
    assert first["target"] == "default/web-1"
    assert first["action"] == "delete_pod"
    assert first["attempt"] == 2
    assert str(first["ts"]).endswith("+00:00")
    assert "incident_id" not in second


def test_extra_overrides_context_and_nested_contexts_merge() -> None:
    out = io.StringIO()
    configure_logging("json", "DEBUG", out)
    log = logging.getLogger("kubemedic.test")
    with log_context(incident_id="outer", target="a/b"):
        with log_context(action="rollback_deployment", target=None):
            log.debug("inner", extra={"incident_id": "record"})
        log.debug("after")
    inner, after = _lines(out)
    assert inner["incident_id"] == "record"
    assert inner["action"] == "rollback_deployment"
    assert "target" not in inner
    assert after == {**after, "incident_id": "outer", "target": "a/b"}
    assert "action" not in after


def test_context_does_not_leak_between_threads() -> None:
    seen: list[object] = []
    with log_context(incident_id="main-thread"):
        t = threading.Thread(target=lambda: seen.append(current_context().get("incident_id")))
        t.start()
        t.join()
    assert seen == [None]


def test_exception_is_one_line_with_traceback_field() -> None:
    out = io.StringIO()
    configure_logging("json", "INFO", out)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("kubemedic.test").exception("failed", extra={"action": "delete_pod"})
    (line,) = _lines(out)
    assert "RuntimeError: boom" in str(line["exception"])
    assert line["action"] == "delete_pod"


def test_auto_is_json_off_a_terminal_and_text_on_one() -> None:
    pipe = io.StringIO()
    configure_logging("auto", "INFO", pipe)
    logging.getLogger("kubemedic.test").info("to a pipe", extra={"target": "ns/p"})
    assert _lines(pipe)[0]["target"] == "ns/p"

    tty = _Tty()
    configure_logging("auto", "INFO", tty)
    logging.getLogger("kubemedic.test").info("to a person", extra={"target": "ns/p"})
    text = re.sub(r"\x1b\[[0-9;]*m", "", tty.getvalue())  # rich colours the fields
    assert "to a person" in text and "target=ns/p" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.splitlines()[0])


def test_reconfiguring_replaces_the_handler_and_sets_the_level() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("json", "INFO", first)
    configure_logging("json", "WARNING", second)
    log = logging.getLogger("kubemedic.test")
    log.info("dropped")
    log.warning("kept")
    assert first.getvalue() == ""
    assert [line["message"] for line in _lines(second)] == ["kept"]


def test_configured_from_settings_values() -> None:
    settings = Settings(log_format="json", log_level="error")
    out = io.StringIO()
    configure_logging(settings.log_format, settings.log_level, out)
    logging.getLogger("kubemedic.test").warning("below the level")
    logging.getLogger("kubemedic.test").error("at the level")
    assert [line["message"] for line in _lines(out)] == ["at the level"]


@pytest.mark.parametrize(("fmt", "level"), [("yaml", "INFO"), ("json", "LOUD")])
def test_bad_format_or_level_is_refused(fmt: str, level: str) -> None:
    with pytest.raises(ValueError):
        configure_logging(fmt, level, io.StringIO())


_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(),
    st.floats(allow_nan=False),
    st.lists(st.text(), max_size=3),
)


@given(
    message=st.text(),
    extras=st.dictionaries(
        st.from_regex(r"[a-z][a-z_]{0,10}", fullmatch=True), _values, max_size=5
    ),
)
def test_any_message_and_extras_give_exactly_one_json_line(
    message: str, extras: dict[str, object]
) -> None:
    reserved = set(vars(logging.makeLogRecord({})))
    extras = {k: v for k, v in extras.items() if k not in reserved | {"message", "asctime"}}
    out = io.StringIO()
    handler = configure_logging("json", "INFO", out)
    try:
        logging.getLogger("kubemedic.prop").info("%s", message, extra=extras)
    finally:
        logging.getLogger().removeHandler(handler)
    (line,) = _lines(out)
    assert line["message"] == message
    for key, value in extras.items():
        # The envelope stays; an extra of the same name is kept beside it.
        envelope = key in ("ts", "level", "logger", "exception", "stack")
        assert line[f"extra_{key}" if envelope else key] == value


def test_a_console_handler_a_library_installed_is_replaced_not_doubled() -> None:
    from rich.logging import RichHandler

    root = logging.getLogger()
    library_handlers = [RichHandler(), logging.StreamHandler(sys.stderr)]
    kept = logging.StreamHandler(io.StringIO())  # e.g. a file or a test capture: not ours to drop
    for handler in (*library_handlers, kept):
        root.addHandler(handler)
    out = io.StringIO()
    ours = configure_logging("json", "INFO", out)
    try:
        assert not any(h in root.handlers for h in library_handlers)
        assert kept in root.handlers and ours in root.handlers
    finally:
        root.removeHandler(kept)


def test_chatty_libraries_are_quiet_at_info_and_back_at_debug() -> None:
    out = io.StringIO()
    configure_logging("json", "INFO", out)
    logging.getLogger("httpx").info("HTTP Request: POST http://127.0.0.1/mcp")
    logging.getLogger("mcp.server.lowlevel.server").info("Processing request of type CallTool")
    logging.getLogger("httpx").warning("retrying")
    assert [line["message"] for line in _lines(out)] == ["retrying"]
    configure_logging("json", "DEBUG", out)
    logging.getLogger("httpx").info("HTTP Request again")
    assert _lines(out)[-1]["message"] == "HTTP Request again"
    configure_logging("json", "INFO", io.StringIO())
