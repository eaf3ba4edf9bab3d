"""The graph's input and output schemas: what starts an incident and what it answers."""

from __future__ import annotations

import inspect

from agent import runner
from agent.graph import build_graph
from agent.state import IncidentInput, IncidentOutput, IncidentState


def test_the_compiled_graph_publishes_its_input_and_output() -> None:
    graph = build_graph().compile()
    given = set(graph.get_input_jsonschema()["properties"])
    answered = set(graph.get_output_jsonschema()["properties"])
    assert {"incident_id", "namespace", "pod_name"} <= given
    assert "diagnosis" not in given  # the graph finds that itself
    assert {"outcome", "summary", "timeline", "history"} <= answered
    assert "plan" not in answered  # internal to the act node


def test_the_schemas_are_views_of_the_state() -> None:
    state = IncidentState.__annotations__
    for schema in (IncidentInput, IncidentOutput):
        assert set(schema.__annotations__) <= set(state), schema.__name__


def test_the_runner_starts_a_thread_with_input_fields_only() -> None:
    """Keys outside the input schema would be dropped silently by LangGraph."""
    source = inspect.getsource(runner.IncidentRunner.start)
    start = source.index("initial: dict[str, Any] = {")
    body = source[start : source.index("}", start)]
    keys = {line.split('"')[1] for line in body.splitlines() if line.strip().startswith('"')}
    assert keys and keys <= set(IncidentInput.__annotations__), keys
