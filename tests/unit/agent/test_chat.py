"""The triage chat with fake tool-calling models through the scripted MCP server."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from mcp.shared.memory import create_connected_server_and_client_session

from agent.chat import NO_MODEL, ChatIO, run_chat
from agent.tools import Toolbox
from tests.unit.agent.fakes import ToolCallingFake, text_model
from tests.unit.agent.scripted import ScriptedCluster, crashloop_diagnosis, scripted_server

pytestmark = pytest.mark.anyio
POD = "web-5d8f7-abcde"


class Terminal:
    def __init__(self, *lines: str, answers: tuple[bool, ...] = ()) -> None:
        self.lines = list(lines)
        self.answers = list(answers)
        self.out: list[str] = []
        self.asked: list[tuple[str, dict[str, Any]]] = []

    async def read(self) -> str | None:
        return self.lines.pop(0) if self.lines else None

    def write(self, text: str) -> None:
        self.out.append(text)

    async def confirm(self, name: str, args: Mapping[str, Any]) -> bool:
        self.asked.append((name, dict(args)))
        return self.answers.pop(0)

    def io(self) -> ChatIO:
        return ChatIO(self.read, self.write, self.confirm)


def call(name: str, **args: Any) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": f"c-{name}"}])


async def chat(cluster: ScriptedCluster, model: Any, terminal: Terminal) -> int:
    async with create_connected_server_and_client_session(scripted_server(cluster)) as session:
        toolbox = await Toolbox.from_session(session)
        return await run_chat(toolbox, model, terminal.io())


async def test_read_only_tools_run_and_the_answer_is_shown() -> None:
    cluster = ScriptedCluster(diagnoses={POD: crashloop_diagnosis(POD)})
    model = ToolCallingFake(
        messages=iter(
            [
                call("diagnose_pod", namespace="default", pod_name=POD),
                AIMessage(content="web crashes at start: exit 1."),
            ]
        )
    )
    terminal = Terminal("why is web failing?")
    assert await chat(cluster, model, terminal) == 0
    assert terminal.out[-1] == "web crashes at start: exit 1."
    assert terminal.asked == []  # a read-only tool needs no yes


async def test_a_write_waits_for_yes() -> None:
    cluster = ScriptedCluster(
        diagnoses={POD: crashloop_diagnosis(POD)}, auto_approve={"delete_pod"}
    )
    heal = call(
        "auto_heal_pod", namespace="default", pod_name=POD, diagnosis={}, action="delete_pod"
    )
    model = ToolCallingFake(
        messages=iter([heal, AIMessage(content="not done"), heal, AIMessage(content="deleted")])
    )
    terminal = Terminal("restart web", "ok, restart web", answers=(False, True))
    assert await chat(cluster, model, terminal) == 0
    assert [name for name, _ in terminal.asked] == ["auto_heal_pod", "auto_heal_pod"]
    # The declined call never reached the server; the accepted one did, once.
    assert [c["action"] for c in cluster.heal_calls] == ["delete_pod"]
    assert terminal.out[-1] == "deleted"


async def test_without_a_model_it_says_so_and_exits_cleanly() -> None:
    terminal = Terminal("hello")
    assert await chat(ScriptedCluster(), None, terminal) == 0
    assert terminal.out == [NO_MODEL]


async def test_a_model_without_tool_calling_is_refused_cleanly() -> None:
    terminal = Terminal("hello")
    assert await chat(ScriptedCluster(), text_model("hi"), terminal) == 0
    assert "cannot call tools" in terminal.out[0]
