"""The published output schemas are closed and every tool's real answers validate against them.

The schemas come from `tools/list` of a real MCP session; each object in them must refuse
properties it does not declare, except the free-form maps listed in `FREE_FORM` with why. The
answers are real calls against kubesim, checked with `jsonschema` against those schemas.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
from mcp import ClientSession

from kubesim import KubeSim
from tests.integration.manifests import CRASHER
from tests.integration.mcp.conftest import make_state, run_session, verified, wait_for
from tests.integration.mcp.test_failures import _crasher, _looping

# Objects that accept properties they do not name, each on purpose. A path is the model's
# name and its fields (`[]` an item of a list, `{}` a value of a map).
FREE_FORM: dict[str, str] = {
    "ErrorInfo": "an error's details vary by its code (docs/contracts.md, Errors)",
    "DiagnosePodResult.status": "the pod's phase, conditions and container statuses (raw)",
    "DiagnosePodResult.logs": "error and warning lines per log read, or why a log is unavailable",
    "DiagnosePodResult.events[]": "summarized Kubernetes events, as the API words them",
    "CronJobInfo.recent_outcomes[]": "job name -> status of the CronJob's last runs",
    "RolloutInfo.previous_images": "container name -> image",
    "RolloutInfo.current_images": "container name -> image",
    "AnalyzeLogsResult.error_patterns": "pattern name -> how many entries matched it",
    "HealResult.target": "the target's kind, namespace, name and uid",
    "HealResult.decision": "the rule decision (policies.Decision.to_dict())",
    "HealResult.findings": "a read-only action's findings differ per action",
    "PlanResult.target": "the target's kind, namespace, name and uid",
    "PlanResult.pod": "the diagnosed pod's namespace, name and uid",
    "PlanResult.parameters": "what the action's write needs differs per action",
    "PlanResult.facts": "the facts the plan re-reads differ per kind",
    "PlanResult.decision": "the rule decision (policies.Decision.to_dict())",
    "ActionStatusResult.target": "the target's kind, namespace, name and uid",
    "ResourceRightsizing.quantities": "the same numbers as readable quantities (96Mi, 15m)",
    "RightsizingTotals.by_verdict": "verdict -> how many containers have it",
}


def _open_objects(node: Any, path: str) -> Iterator[str]:
    """Paths of the objects under `node` that allow properties they do not declare."""
    if isinstance(node, list):
        for item in node:
            yield from _open_objects(item, path)
        return
    if not isinstance(node, dict):
        return
    if node.get("type") == "object" and node.get("additionalProperties") is not False:
        yield path
    for name, schema in (node.get("$defs") or {}).items():
        yield from _open_objects(schema, name)
    for name, schema in (node.get("properties") or {}).items():
        yield from _open_objects(schema, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from _open_objects(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _open_objects(node["additionalProperties"], f"{path}{{}}")
    for key in ("anyOf", "oneOf", "allOf"):
        yield from _open_objects(node.get(key) or [], path)


# What an entry means without: required in the published schema, not defaulted.
REQUIRED: dict[str, set[str]] = {
    "UnhealthyPodInfo": {"namespace", "pod_name", "issue_type", "workload"},
    "WorkloadRef": {"kind", "name"},
    "ErrorInfo": {"code", "message"},
    "Issue": {"type"},
    "LogErrorEntry": {"level", "message", "pattern", "line"},
    "ContainerRightsizing": {"namespace", "workload", "container", "verdict", "memory", "cpu"},
}


def _required(schemas: dict[str, Any]) -> dict[str, set[str]]:
    """Each model's required fields, from every tool's `$defs`."""
    out: dict[str, set[str]] = {}
    for schema in schemas.values():
        for name, model in (schema.get("$defs") or {}).items():
            out[name] = set(model.get("required") or [])
    return out


def _crasher_with_history(sim: KubeSim) -> str:
    """The crasher, once healthy (revision 1) and now crash-looping (revision 2)."""
    sim.apply(CRASHER.replace('annotations: {kubesim.io/crash-after: "2s"}', "annotations: {}"))
    sim.advance(30, step=5)
    sim.apply(CRASHER)
    wait_for(sim, lambda: _looping(sim))
    return str(_crasher(sim)["metadata"]["name"])


def test_output_schemas_are_closed_and_real_answers_validate(sim: KubeSim, tmp_path: Path) -> None:
    name = _crasher_with_history(sim)
    state = make_state(
        sim, tmp_path / "state", trusted=frozenset({"ops"}), local_caller="ops", pod_cache=True
    )
    answers: dict[str, list[dict[str, Any]]] = {}

    async def body(session: ClientSession) -> None:
        assert state.cache is not None and state.cache.wait_synced(10)
        schemas = {tool.name: tool.outputSchema for tool in (await session.list_tools()).tools}

        async def ask(tool: str, **arguments: Any) -> dict[str, Any]:
            result = await session.call_tool(tool, arguments)
            assert result.structuredContent is not None, result.content
            answers.setdefault(tool, []).append(dict(result.structuredContent))
            return dict(result.structuredContent)

        pod = {"namespace": "default", "pod_name": name}
        await ask("list_unhealthy_pods", namespace="default")
        await ask("diagnose_pod", **pod)
        await ask("analyze_logs", **pod)
        await ask("check_resource_usage", **pod)
        await ask("get_rightsizing", namespace="default")
        await ask("diagnose_pod", namespace="default", pod_name="no-such-pod")  # an error
        plan = await ask("plan_healing", **pod)
        await ask(
            "rollback_deployment",
            namespace="default",
            deployment_name="crasher",
            dry_run=True,
            force=True,
        )
        heal = await ask(
            "auto_heal_pod", **pod, plan_id=plan["plan_id"], force=True, idempotency_key="schema-1"
        )
        assert heal["success"], heal
        await verified(session, sim, heal["action_id"])
        await ask("get_action_status", action_id=heal["action_id"])

        opened = {
            path
            for tool, schema in schemas.items()
            for path in _open_objects(schema, str(schema.get("title") if schema else tool))
        }
        assert opened == set(FREE_FORM), (
            f"open, not listed: {sorted(opened - set(FREE_FORM))}; "
            f"listed, not open: {sorted(set(FREE_FORM) - opened)}"
        )
        assert all(schema is not None for schema in schemas.values())
        required = _required(schemas)
        for model, fields in REQUIRED.items():
            assert fields <= required[model], model
        assert set(answers) == set(schemas), "a tool was not exercised"
        for tool, results in answers.items():
            for result in results:
                jsonschema.validate(result, schemas[tool])

    try:
        run_session(state, body)
    finally:
        state.close()
