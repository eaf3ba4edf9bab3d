"""What every family of the catalogue shares: how a scenario is registered and assembled,
and the expectations that recur."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evals.tools.builders import RECORDED_AT
from evals.tools.kit import Built

# One scenario: a function that builds its whole YAML document.
ScenarioFn = Callable[[], dict[str, Any]]


def collector(into: list[ScenarioFn]) -> Callable[[ScenarioFn], ScenarioFn]:
    """A decorator that adds a scenario to its family's list, in the order they are written."""

    def scenario(fn: ScenarioFn) -> ScenarioFn:
        into.append(fn)
        return fn

    return scenario


def APP(name: str) -> dict[str, str]:  # noqa: N802 - reads as the label it builds
    """A PodDisruptionBudget's selector: the app label, never the pod-template-hash."""
    return {"app.kubernetes.io/name": name}


NEVER_FOR_CRASH = ["scale_down_deployment", "increase_memory_limit"]
ALL_WRITES = ["any_write"]


def assemble(
    name: str, tags: list[str], description: str, built: Built, expect: dict[str, Any], **rest: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "tags": tags,
        "description": " ".join(description.split()),
        "target": {"namespace": built.target_ns, "pod": built.target_pod},
        "policy": rest.pop("policy", "default"),
        "cluster": {
            "recorded_at": RECORDED_AT.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "objects": built.objects,
        },
        "logs": built.logs,
        "metrics": built.metrics,
        "behaviour": rest.pop("behaviour", {}),
        "approvals": rest.pop("approvals", {}),
        "rate_limits": rest.pop("rate_limits", []),
        "expect": expect,
        **rest,
    }


def hand_over(issue: str, action: str | list[str] = "investigate_manually") -> dict[str, Any]:
    """Expect `issue` found, `action` proposed, nothing written, and a human told."""
    return {
        "issues": [issue],
        "action": action,
        "forbidden": ALL_WRITES,
        "outcome": "handed_to_human",
    }


def fresh_pod_heals() -> dict[str, Any]:
    """Expect a crash loop that a fresh pod clears: delete the pod, nothing else, and it heals."""
    return {
        "issues": ["CrashLoopBackOff"],
        "action": "delete_pod",
        "writes": ["delete_pod"],
        "forbidden": NEVER_FOR_CRASH + ["rollback_deployment"],
        "outcome": "healed",
    }
