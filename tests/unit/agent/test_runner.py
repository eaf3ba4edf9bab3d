"""The runner: a run cut off mid-way continues from its last checkpoint; resume needs a wait."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp.shared.memory import create_connected_server_and_client_session

from agent.context import IncidentContext
from agent.runner import IncidentRunner, NotWaiting, open_checkpointer
from agent.tools import Toolbox
from policies import policy_from_dict
from tests.unit.agent.harness import no_wait
from tests.unit.agent.scripted import ScriptedCluster, crashloop_diagnosis, scripted_server

pytestmark = pytest.mark.anyio
POD = "web-5d8f7-abcde"


class CutOnce(Toolbox):
    """The real tools, except that the connection drops once before `tool` is sent."""

    def __init__(self, inner: Toolbox, tool: str) -> None:
        super().__init__(inner.tools.values())
        self.tool = tool
        self.cut = False

    async def call(self, name: str, **arguments: Any) -> dict[str, Any]:
        if name == self.tool and not self.cut:
            self.cut = True
            raise ConnectionError("connection to the MCP server lost")
        return await super().call(name, **arguments)


async def test_a_run_cut_off_continues_where_it_stopped(tmp_path: Path) -> None:
    cluster = ScriptedCluster(
        diagnoses={POD: crashloop_diagnosis(POD)}, auto_approve={"delete_pod"}
    )
    async with create_connected_server_and_client_session(scripted_server(cluster)) as session:
        toolbox = CutOnce(await Toolbox.from_session(session), "auto_heal_pod")
        async with open_checkpointer(tmp_path / "cp.sqlite") as saver:
            deps = IncidentContext(
                toolbox=toolbox,
                policy=policy_from_dict({}),
                sleep=no_wait,
                verify_interval_seconds=1,
            )
            runner = IncidentRunner(deps, saver)
            with pytest.raises(ConnectionError):
                await runner.start("inc-cut", "default", POD)
            stopped = await runner.status("inc-cut")
            assert stopped.next == ("act",) and not stopped.done
            with pytest.raises(NotWaiting):
                await runner.resume("inc-cut", {"decision": "approve", "approver": "x"})
            done = await runner.proceed("inc-cut")
    assert done.outcome == "healed"
    assert [c["action"] for c in cluster.heal_calls] == ["delete_pod"]
    assert len(cluster.writes) == 1
