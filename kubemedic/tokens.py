"""Bearer tokens for kubemedic's HTTP endpoints (`kubemedic mcp --http`, `kubemedic inbox`).

One file format for both: a YAML list of `{caller, token, scopes}` (`TokenConfig`); scopes are
`read` (diagnose, view approvals), `heal` (ask for writes), `approve` (decide approvals) and
`metrics` (scrape `/metrics` of `kubemedic mcp --http`; give Prometheus a token with only it).
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from mcp_server.config import TokenConfig


class TokenFileError(ValueError):
    """The token file cannot be used; `message` says why (never a token's value)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def load_tokens(path: Path | None) -> tuple[TokenConfig, ...]:
    """The tokens in `path` (none when `path` is None)."""
    if path is None:
        return ()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    except (OSError, yaml.YAMLError) as error:
        raise TokenFileError(f"{path}: {error}") from None
    if not isinstance(data, list):
        raise TokenFileError(f"{path}: expected a list of {{caller, token, scopes}}")
    try:
        return tuple(TokenConfig.model_validate(item) for item in data)
    except ValidationError as error:
        # The error names the fields; the input values (a token) are left out.
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'entry'}: {e['msg']}" for e in error.errors()
        )
        raise TokenFileError(f"{path}: {problems}") from None
