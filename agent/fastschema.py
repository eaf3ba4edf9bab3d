"""JSON-schema validation with each schema's validator built once.

The MCP SDK validates every tool result against the tool's output schema (server and client
side) with `jsonschema.validate`, which re-checks the schema against its metaschema on every
call: for kubemedic's diagnosis schemas that is ~50-250 ms per call, which dominates an
eval's wall time and slows a watch loop whose incidents ask for their verification often.
`cached_validate` does the same validation (same validator class, same best-match error) but
checks and compiles each distinct schema once. `cache_output_validation(session)` puts it in
place for one client session (every Toolbox does); `sdk_validation_cached()` for the SDK's
server module while an eval runs.
"""

from __future__ import annotations

import json
import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for

_validators: dict[str, Any] = {}
_lock = threading.Lock()


def compiled(schema: dict[str, Any], registry: Any = None) -> Any:
    key = json.dumps(schema, sort_keys=True, default=str)
    with _lock:
        validator = _validators.get(key)
    if validator is None:
        cls = validator_for(schema)
        cls.check_schema(schema)
        validator = cls(schema) if registry is None else cls(schema, registry=registry)
        with _lock:
            _validators[key] = validator
    return validator


def cached_validate(instance: Any, schema: dict[str, Any], *args: Any, **kwargs: Any) -> None:
    """`jsonschema.validate`, with the schema checked and compiled once."""
    validator = compiled(schema, kwargs.get("registry"))
    error = best_match(validator.iter_errors(instance))
    if error is not None:
        raise error


@contextmanager
def sdk_validation_cached() -> Iterator[None]:
    """Within the block, the MCP SDK's server validates tool results with `cached_validate`."""
    from mcp.server.lowlevel import server as lowlevel

    # The names the SDK's server module uses from jsonschema.
    shim = types.SimpleNamespace(
        validate=cached_validate,
        ValidationError=jsonschema.ValidationError,
        SchemaError=jsonschema.SchemaError,
    )
    original = getattr(lowlevel, "jsonschema")  # noqa: B009 - not re-exported by the SDK
    setattr(lowlevel, "jsonschema", shim)  # noqa: B010
    try:
        yield
    finally:
        setattr(lowlevel, "jsonschema", original)  # noqa: B010


def cache_output_validation(session: Any) -> None:
    """The client session validates tool results as the SDK does (a result that does not fit
    the tool's output schema is an error), with each schema compiled once."""
    if not hasattr(session, "_validate_tool_result") or not hasattr(
        session, "_tool_output_schemas"
    ):
        return  # another SDK version: keep its own validation
    from referencing import Registry

    async def validate(name: str, result: Any) -> None:
        if name not in session._tool_output_schemas:
            await session.list_tools()
        schema = session._tool_output_schemas.get(name)
        if schema is None:
            return
        if result.structuredContent is None:
            raise RuntimeError(
                f"Tool {name} has an output schema but returned no structured content"
            )
        try:
            cached_validate(result.structuredContent, schema, registry=Registry())
        except jsonschema.ValidationError as exc:
            raise RuntimeError(
                f"Invalid structured content returned by tool {name}: {exc}"
            ) from exc

    session._validate_tool_result = validate
