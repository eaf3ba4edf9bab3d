"""The ClusterRole grants exactly what the code calls: derived, not guessed.

Every MCP tool runs through a real MCP client session against kubesim, including every write
action (each after a human approval, and once as a dry run), on the failure scenarios of the
original specification. kubesim records each API request with its RBAC verb, group, resource and
subresource; the set of those must equal what k8s/rbac.yaml grants. A permission the code stopped
using, or a call the role does not cover, fails this test.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from .flows import WRITE_ACTIONS, Permission, Run

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.slow  # one full pass over every tool and action against kubesim


def _granted() -> set[Permission]:
    role = yaml.safe_load((ROOT / "k8s" / "rbac.yaml").read_text(encoding="utf-8"))
    assert role["kind"] == "ClusterRole"
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_every_tool_and_every_write_action_was_exercised(run: Run) -> None:
    assert run.tools_called == run.tools_served, "\n".join(run.log)
    assert run.actions_taken >= WRITE_ACTIONS, "\n".join(run.log)


def test_cluster_role_grants_exactly_what_the_code_calls(run: Run) -> None:
    granted = _granted()
    missing = sorted(run.requests - granted)
    unused = sorted(granted - run.requests)
    assert (missing, unused) == ([], []), (
        f"called but not granted: {missing}\ngranted but never called: {unused}"
    )


def test_the_original_specs_mistakes_are_not_copied() -> None:
    """apps/v1 has no deployments/rollback; a rollback reads ReplicaSets and patches the
    Deployment; an action writes an Event; raising a limit patches the Deployment."""
    granted = _granted()
    assert not any(resource == "deployments/rollback" for _, resource, _ in granted)
    assert ("apps", "replicasets", "list") in granted
    assert ("apps", "deployments", "patch") in granted
    assert ("", "events", "create") in granted
    assert not any(resource == "secrets" for _, resource, _ in granted)
