"""The `perl` image: the Kubernetes docs' pi Job (`perl -Mbignum=bpi -wle 'print bpi(2000)'`)
prints pi to that many digits and exits 0; the time it takes grows with the digits asked for
(about 10 s for 2000). A script perl cannot find fails as perl does; `-e` one-liners end at once.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from kubesim.controllers import shell

if TYPE_CHECKING:
    from kubesim.controllers.behaviour import Behaviour

MEMORY = 12 * 2**20


def pi_digits(count: int) -> str:
    """pi to `count` significant digits, rounded as Math::BigFloat's bpi rounds."""
    count = max(1, min(count, 20000))
    guard = 10
    scale = 10 ** (count + guard)

    def arctan_inverse(x: int) -> int:
        total: int = scale // x
        term: int = total
        x2, n, sign = x * x, 1, 1
        while term:
            term //= x2
            n += 2
            sign = -sign
            total += sign * (term // n)
        return total

    pi = 4 * (4 * arctan_inverse(5) - arctan_inverse(239))  # Machin's formula
    rounded = (pi + 5 * 10 ** (guard - 1)) // 10**guard
    text = str(rounded)[:count]
    return text[0] + ("." + text[1:] if len(text) > 1 else "")


def perl_behaviour(argv: list[str]) -> Behaviour:
    from kubesim.controllers.behaviour import Behaviour  # noqa: PLC0415 - a cycle otherwise

    args = argv[1:] if argv and argv[0].rsplit("/", 1)[-1].startswith("perl") else argv
    if argv and argv[0].rsplit("/", 1)[-1] in shell.SHELLS:
        from kubesim.controllers.behaviour import _shell  # noqa: PLC0415

        return _shell(argv, known_image=False)
    if not args:
        return Behaviour(runs_for=0.0, memory=MEMORY, cpu=0.0)  # no script on stdin
    joined = " ".join(args)
    match = re.search(r"bpi\((\d+)\)", joined)
    if match and "-Mbignum" in joined:
        digits = int(match.group(1))
        runs_for = max(1.0, round(10.0 * (digits / 2000) ** 2, 1))
        return Behaviour(
            runs_for=runs_for,
            memory=MEMORY,
            cpu=1000.0,
            startup_lines=((runs_for, pi_digits(digits)),),
        )
    if any(a.startswith("-e") or a.startswith("-") and "e" in a[1:] for a in args):
        return Behaviour(runs_for=0.2, memory=MEMORY, cpu=0.0)
    script = next((a for a in args if not a.startswith("-")), args[-1])
    return Behaviour(
        runs_for=0.0,
        exit_code=2,
        memory=MEMORY,
        startup_lines=((0.0, f'Can\'t open perl script "{script}": No such file or directory'),),
    )
