"""`python -m benchmarks`: run every benchmarks/*_bench.py module's `main()` in turn."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def main() -> int:
    here = Path(__file__).resolve().parent
    failures = 0
    for path in sorted(here.glob("*_bench.py")):
        name = f"benchmarks.{path.stem}"
        print(f"== {name}", flush=True)
        try:
            module = importlib.import_module(name)
            result = module.main()
        except Exception as exc:  # noqa: BLE001 - one broken benchmark must not hide the others
            print(f"{name} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            failures += 1
            continue
        if isinstance(result, int) and result != 0:
            failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
