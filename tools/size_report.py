"""The largest classes and functions of the rooms that must stay small to change safely.

In `agent/`, `mcp_server/` and `policies/` no class is over 300 lines and no function over 60
(from its `def` or `class` line to its last line). `make size` prints the five largest of each
per room and exits 1 when one is over its limit; tests/unit/test_code_size.py holds the same
line.

    python tools/size_report.py
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROOMS = ("agent", "mcp_server", "policies")
CLASS_LIMIT = 300
FUNCTION_LIMIT = 60


@dataclass(frozen=True, order=True)
class Unit:
    lines: int
    where: str  # path:line
    name: str
    kind: str  # "class" or "def"


def units(room: str) -> list[Unit]:
    """Every class and function (methods and nested ones included) of a room."""
    found = []
    for path in sorted((ROOT / room).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                kind = "class" if isinstance(node, ast.ClassDef) else "def"
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                found.append(Unit(size, where, node.name, kind))
    return found


def over_limit(found: list[Unit]) -> list[Unit]:
    return [
        unit
        for unit in found
        if unit.lines > (CLASS_LIMIT if unit.kind == "class" else FUNCTION_LIMIT)
    ]


def main() -> int:
    too_big: list[Unit] = []
    for room in ROOMS:
        found = units(room)
        too_big += over_limit(found)
        for kind, limit in (("class", CLASS_LIMIT), ("def", FUNCTION_LIMIT)):
            largest = sorted((u for u in found if u.kind == kind), reverse=True)[:5]
            print(
                f"{room}/ largest {'classes' if kind == 'class' else 'functions'} (limit {limit})"
            )
            for unit in largest:
                print(f"  {unit.lines:4d}  {unit.name:<32} {unit.where}")
    for unit in too_big:
        print(f"over the limit: {unit.kind} {unit.name} ({unit.lines} lines) at {unit.where}")
    return 1 if too_big else 0


if __name__ == "__main__":
    sys.exit(main())
