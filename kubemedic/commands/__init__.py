"""Sub-commands. Each module defines `register(app)`; the order here is the order in --help."""

from __future__ import annotations

import importlib

import typer

# Each entry is a module under kubemedic.commands with a `register(app: typer.Typer)` function.
COMMAND_MODULES = (
    "demo",
    "sim",
    "mcp",
    "watch",
    "chat",
    "approvals",
    "inbox",
    "eval",
    "record",
    "rightsize",
    "audit",
)


def register_all(app: typer.Typer) -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"kubemedic.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"kubemedic.commands.{name}":
                continue  # that mode is not part of this build
            raise
        module.register(app)
