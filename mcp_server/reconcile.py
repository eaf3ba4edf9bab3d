"""Recovery: every intent without an outcome, left by a process that died, gets exactly one.

The audit trail says how far the dead process got: no intent record means it stopped before
the write (which always follows the fsynced intent record); an intent record without an
outcome means the write may or may not have reached the API server, so the cluster is read
to tell (the pod's uid gone, the template at the planned revision, the limit at the planned
value); an outcome record already there means only the ledger row lagged. Then the missing
records are appended and the ledger row is finished, once.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from mcp_server.audit import AuditTarget, Result, phases_by_action
from mcp_server.gateway import NotFound
from mcp_server.ledger import Intent
from mcp_server.state import ServerState
from policies import Action

log = logging.getLogger(__name__)
JSON = dict[str, Any]


def template_digest(template: JSON) -> str:
    """A pod template's identity, without the hash labels the controllers add."""
    body = json.loads(json.dumps(template or {}))
    body.pop("$patch", None)  # a ControllerRevision's data says how it applies
    meta = body.get("metadata")
    if isinstance(meta, dict):
        if meta.get("creationTimestamp") is None:
            meta.pop("creationTimestamp", None)  # a revision's data carries it as null
        labels = meta.get("labels")
        if isinstance(labels, dict):
            labels.pop("pod-template-hash", None)
            labels.pop("controller-revision-hash", None)
        if not meta:
            body.pop("metadata")
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def applied_in_cluster(state: ServerState, intent: Intent) -> bool:
    """Read the cluster: does it show the intended change?"""
    gateway = state.gateway
    namespace = str(intent.target.get("namespace"))
    expected = intent.expected
    if intent.action in (Action.DELETE_POD.value, Action.DELETE_EVICTED_POD.value):
        try:
            pod = gateway.get_pod(namespace, str(expected.get("pod_name")))
        except NotFound:
            return True
        meta = pod.get("metadata") or {}
        return meta.get("uid") != expected.get("pod_uid") or bool(meta.get("deletionTimestamp"))
    kind = str(intent.target.get("kind") or "Deployment")
    try:
        deployment = gateway.get_workload(kind, namespace, str(intent.target.get("name")))
    except NotFound:
        return False
    spec = deployment.get("spec") or {}
    if intent.action == Action.SCALE_DOWN_DEPLOYMENT.value:
        return spec.get("replicas") == expected.get("replicas")
    if intent.action == Action.ROLLBACK_DEPLOYMENT.value:
        return template_digest(spec.get("template") or {}) == expected.get("template_digest")
    if intent.action == Action.INCREASE_MEMORY_LIMIT.value:
        for container in (spec.get("template") or {}).get("spec", {}).get("containers") or []:
            if container.get("name") == expected.get("container"):
                limits = (container.get("resources") or {}).get("limits") or {}
                return limits.get("memory") == expected.get("memory_limit")
        return False
    return False


def reconcile(state: ServerState, intents: list[Intent] | None = None) -> list[JSON]:
    """Give each orphaned intent its outcome; what was decided, one entry per intent."""
    orphans = state.ledger.orphans() if intents is None else intents
    if state.cluster is not None:
        # One store for several clusters: each reads its own cluster for its own intents.
        orphans = [intent for intent in orphans if _mine(state, intent)]
    if not orphans:
        return []
    trail = phases_by_action(state.audit.records())
    done = []
    for intent in orphans:
        if not state.ledger.adopt(intent):
            continue  # another process is reconciling it
        done.append(_reconcile_one(state, intent, trail.get(intent.action_id, {})))
    return done


def intent_cluster(state: ServerState, intent: Intent) -> str | None:
    """The cluster an intent's write went to (None: a one-cluster server's)."""
    plan = state.ledger.plan(intent.plan_id)
    return None if plan is None else plan.cluster


def _mine(state: ServerState, intent: Intent) -> bool:
    cluster = intent_cluster(state, intent)
    if cluster is None:
        return state.owns_stores  # a one-cluster intent: the first cluster's
    return cluster == state.cluster


def _reconcile_one(state: ServerState, intent: Intent, phases: dict[str, JSON]) -> JSON:
    """How far the dead process got (its records, else the cluster), then the missing
    records and the ledger row, once."""
    restore = True
    if "outcome" in phases:
        applied = str(phases["outcome"].get("result")) == "applied"
        how = "the outcome record was written; only the ledger lagged"
        restore = False  # the API answered (e.g. refused): as if the process had lived
    elif "intent" not in phases:
        applied = False
        how = "the process stopped before the write"
        _record(state, intent, "intent", "recovered: intent without its record")
    else:
        applied = applied_in_cluster(state, intent)
        shows = "shows" if applied else "does not show"
        how = f"the cluster {shows} the change"
    if "outcome" not in phases:
        _record(state, intent, "applied" if applied else "not_applied", f"recovered: {how}")
    state.ledger.finish(
        intent.action_id,
        "applied" if applied else "not_applied",
        {"recovered": True, "how": how},
        # Nothing was applied because the process died: the human's approval still holds.
        restore_approval=restore and not applied,
    )
    log.warning(
        "reconciled intent %s (%s on %s): %s",
        intent.action_id,
        intent.action,
        intent.target.get("name"),
        how,
    )
    return {"action_id": intent.action_id, "applied": applied, "how": how}


def _record(state: ServerState, intent: Intent, result: Result, reason: str) -> None:
    state.audit.append(
        action=intent.action,
        target=AuditTarget(
            str(intent.target.get("kind")),
            str(intent.target.get("namespace")),
            str(intent.target.get("name")),
        ),
        reason=reason,
        initiator=intent.initiator,
        approver=intent.approver,
        result=result,
        dry_run=False,
        duration_seconds=0.0,
        details={
            "action_id": intent.action_id,
            "plan_id": intent.plan_id,
            "idempotency_key": intent.idempotency_key,
            "recovered": True,
            "owner": intent.owner,
        },
        phase="intent" if result == "intent" else "outcome",
    )
