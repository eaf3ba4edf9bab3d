"""The ClusterRole grants exactly what the code calls: derived, not guessed.

Every MCP tool runs through a real MCP client session against kubesim, including every write
action (each after a human approval, and once as a dry run), on the failure scenarios of the
original specification. kubesim records each API request with its RBAC verb, group, resource and
subresource; the set of those must equal what k8s/rbac.yaml grants. A permission the code stopped
using, or a call the role does not cover, fails this test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kubesim.store import LEASES

from .flows import WRITE_ACTIONS, Permission, Run

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.slow  # one full pass over every tool and action against kubesim


def _role(kind: str) -> dict[str, Any]:
    docs = yaml.safe_load_all((ROOT / "k8s" / "rbac.yaml").read_text(encoding="utf-8"))
    (role,) = [d for d in docs if d and d["kind"] == kind]
    return dict(role)


def _granted(kind: str = "ClusterRole") -> set[Permission]:
    role = _role(kind)
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


def test_leader_election_role_grants_exactly_what_a_leader_elect_run_calls(
    tmp_path: Path,
) -> None:
    """`kubemedic watch --leader-elect` as the agent container runs it: it creates the Lease,
    renews it and releases it on SIGTERM. Its Lease requests must equal the Role's grants."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from kubesim import KubeSim

    env = dict(os.environ)
    env.pop("KUBECONFIG", None)
    with KubeSim() as sim:
        sim.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kubemedic"}})
        env.update(
            {
                "KUBEMEDIC_KUBECONFIG": str(sim.kubeconfig_path),
                "KUBEMEDIC_STATE_DIR": str(tmp_path / "state"),
                "KUBEMEDIC_LLM": "none",
                "KUBEMEDIC_NAMESPACE": "kubemedic",
            }
        )
        args = ["--lease-duration", "3", "--renew-deadline", "2", "--retry-period", "0.3"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "kubemedic", "watch", "--leader-elect", *args],
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 120
            while sum(1 for r in sim.requests if r.group == "coordination.k8s.io") < 4:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=120) == 0
        called = {
            (r.group, r.resource, r.verb) for r in sim.requests if r.group == "coordination.k8s.io"
        }
        lease = sim.store.get(LEASES, "kubemedic", "kubemedic-leader")
    assert lease["spec"]["holderIdentity"] == ""  # released on SIGTERM
    assert called == _granted("Role")
    role = _role("Role")
    assert role["metadata"]["namespace"] == "kubemedic"
