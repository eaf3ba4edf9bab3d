"""Process-wide logging: JSON lines on stderr for machines, rich text for a person at a terminal.

Every module logs with plain `logging` (and `extra={...}` or `kubemedic_logctx.log_context` for
incident fields); only the composition root calls `configure_logging`, once, from the settings.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any, Literal

from kubemedic_logctx import CONTEXT_FIELDS, current_context, log_context

__all__ = ["JsonFormatter", "TextFormatter", "configure_logging", "log_context", "record_fields"]

LogFormat = Literal["auto", "json", "text"]

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RESERVED = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None)).keys()
    | {"message", "asctime", "taskName"}
)
# Marks the handler we install so a second call replaces it instead of doubling every line.
_HANDLER_NAME = "kubemedic"
# Libraries that log every request at INFO (the MCP SDK logs each tool call, httpx each HTTP
# request): at INFO they would bury the incident lines. Shown again at DEBUG.
_CHATTY = (
    "httpx",
    "httpcore",
    "urllib3",
    "kubernetes.client.rest",
    "mcp.server.lowlevel.server",
    "mcp.server.streamable_http_manager",
    "mcp.client.streamable_http",
    "uvicorn.access",
    "aiosqlite",
    "asyncio",
)
# The keys every JSON line starts with; an `extra=` field of the same name is renamed.
_ENVELOPE = frozenset({"ts", "level", "logger", "message", "exception", "stack"})
_LINE_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """Context fields, then the record's own `extra=` fields (a record overrides its context)."""
    fields: dict[str, Any] = dict(current_context())
    for key, value in vars(record).items():
        if key not in _RESERVED and not key.startswith("_"):
            fields[key] = value
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, the incident fields, other extras."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = record_fields(record)
        # The incident fields come first so `jq` output and eyes find them in the same place.
        for key in CONTEXT_FIELDS:
            if key in fields:
                payload[key] = fields.pop(key)
        for key, value in fields.items():
            # An extra named like the envelope (ts, level, logger) never replaces it: kept aside.
            payload[f"extra_{key}" if key in _ENVELOPE else key] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            payload["stack"] = self.formatStack(record.stack_info)
        # default=str: an odd extra (a Path, an enum) must never cost us the log line.
        line = json.dumps(payload, default=str, ensure_ascii=False)
        # Unicode line breaks that JSON leaves raw would split the line for some readers.
        return line.translate(_LINE_BREAKS)


class TextFormatter(logging.Formatter):
    """The message followed by `key=value` for the incident fields and extras."""

    # formatMessage, not format: RichHandler calls only this one when it renders a traceback.
    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (stdlib name)
        message = super().formatMessage(record)
        fields = record_fields(record)
        if not fields:
            return message
        ordered = [k for k in CONTEXT_FIELDS if k in fields] + sorted(
            k for k in fields if k not in CONTEXT_FIELDS
        )
        return message + " " + " ".join(f"{k}={fields[k]}" for k in ordered)


def _resolve_format(fmt: str, stream: IO[str]) -> Literal["json", "text"]:
    if fmt not in ("auto", "json", "text"):
        raise ValueError(f"log format must be auto, json or text, not {fmt!r}")
    if fmt == "auto":
        isatty = getattr(stream, "isatty", None)
        return "text" if callable(isatty) and isatty() else "json"
    return "json" if fmt == "json" else "text"


def _resolve_level(level: str | int) -> int:
    if isinstance(level, int):
        return level
    resolved = logging.getLevelNamesMapping().get(level.upper())
    if resolved is None:
        raise ValueError(f"unknown log level {level!r}")
    return resolved


def configure_logging(
    fmt: str = "auto", level: str | int = "INFO", stream: IO[str] | None = None
) -> logging.Handler:
    """Install the one root handler (replacing an earlier one of ours) and return it.

    `fmt`: `json`, `text`, or `auto` (text when the stream is a terminal, JSON otherwise).
    """
    out = stream if stream is not None else sys.stderr
    kind = _resolve_format(fmt, out)
    root = logging.getLogger()
    for old in [h for h in root.handlers if _replaceable(h)]:
        root.removeHandler(old)
        if old.get_name() == _HANDLER_NAME:
            old.close()

    handler: logging.Handler
    if kind == "json":
        handler = logging.StreamHandler(out)
        handler.setFormatter(JsonFormatter())
    else:
        handler = _text_handler(out)
    handler.set_name(_HANDLER_NAME)
    root.addHandler(handler)
    resolved = _resolve_level(level)
    root.setLevel(resolved)
    for name in _CHATTY:
        logging.getLogger(name).setLevel(
            logging.NOTSET if resolved <= logging.DEBUG else logging.WARNING
        )
    return handler


def _replaceable(handler: logging.Handler) -> bool:
    """Ours from an earlier call, or a console handler a library installed with basicConfig
    (FastMCP adds a RichHandler when the root has none): either would print every line twice.
    Handlers writing elsewhere (files, pytest's capture) stay."""
    from rich.logging import RichHandler

    if handler.get_name() == _HANDLER_NAME or isinstance(handler, RichHandler):
        return True
    stream = getattr(handler, "stream", None)
    return type(handler) is logging.StreamHandler and stream in (sys.stderr, sys.stdout)


def _text_handler(out: IO[str]) -> logging.Handler:
    from rich.console import Console
    from rich.logging import RichHandler

    console = Console(file=out, stderr=out is sys.stderr)
    handler = RichHandler(console=console, show_path=False, rich_tracebacks=True, markup=False)
    handler.setFormatter(TextFormatter("%(message)s"))
    return handler
