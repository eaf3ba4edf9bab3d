"""The one verifier: did the workload recover after an applied write? A status, not a wait.

`status(intent)` looks once (at the watch-backed pod cache when it is synced) and answers
pending / healed / not_healed with evidence. Healed means healthy and still healthy
`stable_seconds` later; not_healed means the replacement is failing again, or nothing healthy
appeared before the deadline. The verdict is stored with the intent, so every caller (the
agent, another agent, a human) sees the same one, and a final verdict becomes the rate-limit
record's outcome (escalation reads it).

A deleted pod's replacement is found through its owner (mcp_server.writes): the same
controller uid, a new pod uid that is none of the owner's pods at the time of the write, and
for a StatefulSet the same name — never by the old pod's other labels, which anyone may have
changed.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from mcp_server import metrics
from mcp_server.diagnostics.resources import memory_bytes
from mcp_server.gateway import GatewayError, NotFound
from mcp_server.ledger import Intent
from mcp_server.pod_diagnosis import classify_pod
from mcp_server.state import ServerState
from mcp_server.writes import (
    CONTROLLER_REVISION_HASH,
    POD_TEMPLATE_HASH,
    ReplacementQuery,
    is_replacement,
    owner_uid,
    replacement_selector,
)
from policies import Action

JSON = dict[str, Any]

# A replacement in one of these states failed the same way again: no need to wait it out.
FAILING_AGAIN = frozenset(
    {
        "CrashLoopBackOff",
        "OOMKilled",
        "ImagePullBackOff",
        "ErrImagePull",
        "CreateContainerConfigError",
        "Error",
    }
)


def delete_expectation(pod: JSON, neighbours: list[JSON]) -> JSON:
    """What verification and reconciliation of a pod delete need to know of the old pod;
    `neighbours` are the namespace's pods now (the owner's other pods are not replacements)."""
    meta = pod.get("metadata") or {}
    query = replacement_selector(pod)
    siblings = sorted(
        str((p.get("metadata") or {}).get("uid"))
        for p in neighbours
        if query.owner_uid is not None and owner_uid(p, query.owner_kind) == query.owner_uid
    )
    return {
        "pod_uid": str(meta.get("uid") or ""),
        "pod_name": str(meta.get("name") or ""),
        "namespace": str(meta.get("namespace") or ""),
        "query": asdict(query),
        "siblings": siblings,
    }


def _replacements(pods: list[JSON], expected: JSON) -> list[JSON]:
    query = ReplacementQuery(**(expected.get("query") or {}))
    old = {
        "metadata": {
            "uid": expected.get("pod_uid"),
            "name": expected.get("pod_name"),
            "namespace": expected.get("namespace"),
        }
    }
    known = frozenset(expected.get("siblings") or ())
    return [p for p in pods if is_replacement(p, old, query, known_uids=known)]


def pod_ready(pod: JSON) -> bool:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return str(condition.get("status")) == "True"
    return False


def pod_restarts(pod: JSON) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return sum(int(s.get("restartCount") or 0) for s in statuses if isinstance(s, dict))


def created_at(pod: JSON) -> str:
    return str((pod.get("metadata") or {}).get("creationTimestamp") or "")


def selector_matches(selector: JSON, labels: JSON) -> bool:
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key = expression.get("key")
        values = set(expression.get("values") or [])
        operator = expression.get("operator")
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


class Verifier:
    def __init__(self, state: ServerState) -> None:
        self.state = state
        self._seen: dict[str, list[JSON]] = {}  # one look's pods, by namespace
        self._live = False  # this look reads the API server, not the watch cache
        self._from_cache = False  # this look read the watch cache

    @property
    def _threshold(self) -> int:
        return self.state.policy.restart_threshold

    @property
    def stable_seconds(self) -> float:
        return max(self.state.config.verify_poll_seconds * 2, 5.0)

    def status(self, intent: Intent) -> JSON:
        """The intent's verification now (stored, so the next look continues from it)."""
        stored = dict(intent.verification)
        if intent.outcome != "applied":
            return {"status": "not_applicable", "message": f"the write is {intent.outcome}"}
        if stored.get("status") in ("healed", "not_healed"):
            return stored
        now = self.state.clock.now().timestamp()
        started = float(intent.outcome_at or intent.created_at)
        verification = self._verdict(intent, stored, now=now, started=started, live=False)
        if verification["status"] == "not_healed" and self._from_cache:
            # The watch cache may lag the cluster (a replacement it has not seen yet): a
            # "not healed" is given only once a live read of the pods agrees.
            verification = self._verdict(intent, stored, now=now, started=started, live=True)
        resize = self._resize_look(intent, stored.get("resize"))
        if resize is not None:
            _add_resize(verification, resize)
        if _worth_storing(verification, stored):
            self.state.ledger.set_verification(intent.action_id, verification)
        if verification["status"] == "healed":
            self._count_healed(intent)
        return verification

    def _verdict(
        self, intent: Intent, stored: JSON, *, now: float, started: float, live: bool
    ) -> JSON:
        """One look at the cluster (from the watch cache unless `live`) and its verdict."""
        self._seen = {}
        self._live = live
        self._from_cache = False
        try:
            look = self._look(intent)
        except GatewayError as error:
            look = {"healthy": False, "message": f"could not observe: {error.reason}"}
        verification: JSON = {
            **look,
            "status": "pending",
            "action_id": intent.action_id,
            "started_at": started,
            "waited_seconds": round(now - started, 3),
        }
        self._judge(verification, look, stored, now=now, started=started)
        return verification

    def _judge(
        self, verification: JSON, look: JSON, stored: JSON, *, now: float, started: float
    ) -> None:
        """Set the verdict: healed once healthy for `stable_seconds` without a restart,
        not healed when failing or still unhealthy at the timeout, else pending."""
        healthy_since = stored.get("healthy_since")
        if look.get("failing"):
            verification["status"] = "not_healed"
        elif look.get("healthy"):
            if healthy_since is not None and look.get("restart_count") != stored.get(
                "restart_count"
            ):
                healthy_since = None  # restarted since it looked healthy: not stable yet
            healthy_since = healthy_since if healthy_since is not None else now
            verification["healthy_since"] = healthy_since
            if now - float(healthy_since) >= self.stable_seconds:
                verification["status"] = "healed"
        elif now - started >= self.state.config.verify_timeout_seconds:
            verification["status"] = "not_healed"
            verification["message"] = (
                f"not healthy within {self.state.config.verify_timeout_seconds:.0f}s: "
                + str(look.get("message") or "")
            )

    def _count_healed(self, intent: Intent) -> None:
        pod = intent.result.get("pod") or {}
        metrics.healing_success_total.labels(
            str(pod.get("namespace") or intent.target.get("namespace")),
            str(pod.get("name") or intent.target.get("name")),
            intent.action,
        ).inc()
        if self.state.cluster is not None:
            metrics.cluster_healing_success_total.labels(self.state.cluster, intent.action).inc()

    # -- one look ----------------------------------------------------------------------------

    def _pods(self, namespace: str) -> list[JSON]:
        if namespace in self._seen:
            return self._seen[namespace]
        cache = self.state.cache
        if cache is not None and cache.synced and not self._live:
            pods = cache.pods(namespace)
            self._from_cache = True
        else:
            pods = self.state.gateway.list_pods(namespace).items
        self._seen[namespace] = pods
        return pods

    def _resize_look(self, intent: Intent, before: Any) -> list[JSON] | None:
        """Per pod resized in place by a memory raise: what its status shows now (the new
        limit actuated, or the kubelet's `PodResizePending` with Deferred / Infeasible), or
        what it showed last once the pod is gone. None: no resize was sent."""
        write = intent.result.get("write") if isinstance(intent.result, dict) else None
        entries = write.get("resize") if isinstance(write, dict) else None
        if intent.action != Action.INCREASE_MEMORY_LIMIT.value or not entries:
            return None
        seen = {str(e.get("uid")): e for e in before or [] if isinstance(e, dict)}
        try:
            pods = {
                str((p.get("metadata") or {}).get("uid")): p
                for p in self._pods(str(intent.target.get("namespace")))
            }
        except GatewayError:
            pods = None
        looks: list[JSON] = []
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            uid = str(entry.get("uid"))
            last = seen.get(uid)
            pod = None if pods is None else pods.get(uid)
            if entry.get("result") != "resized":
                looks.append(_resize_not_sent(entry))
            elif pod is None or (pod.get("metadata") or {}).get("deletionTimestamp"):
                looks.append(_resize_gone(entry, last, unknown=pods is None))
            else:
                looks.append(resize_state(pod, entry))
        return looks

    def _look(self, intent: Intent) -> JSON:
        action = intent.action
        namespace = str(intent.target.get("namespace"))
        expected = intent.expected
        if action == Action.DELETE_EVICTED_POD.value:
            gone = not any(
                (p.get("metadata") or {}).get("uid") == expected.get("pod_uid")
                for p in self._pods(namespace)
            )
            return {
                "healthy": gone,
                "message": "the evicted pod is gone" if gone else "the evicted pod is still there",
            }
        if action == Action.DELETE_POD.value:
            fresh = _replacements(self._pods(namespace), expected)
            if not fresh:
                return {"healthy": False, "message": "no replacement pod yet"}
            return _pod_look(max(fresh, key=created_at), "replacement pod", self._threshold)
        return self._look_rollout(intent, namespace)

    def _look_rollout(self, intent: Intent, namespace: str) -> JSON:
        name = str(intent.target.get("name"))
        kind = str(intent.target.get("kind") or "Deployment")
        try:
            workload = self.state.gateway.get_workload(kind, namespace, name)
        except NotFound:
            return {"healthy": False, "failing": True, "message": f"{kind.lower()} {name} is gone"}
        spec = workload.get("spec") or {}
        generation = int((workload.get("metadata") or {}).get("generation") or 0)
        progress = rollout_progress(kind, workload)
        want, updated, ready, total = progress
        observed = int((workload.get("status") or {}).get("observedGeneration") or 0)
        if observed < generation:
            return {"healthy": False, "message": "the controller has not seen the change yet"}
        if intent.action == Action.SCALE_DOWN_DEPLOYMENT.value:
            done = total == want and ready == want
            return {
                "healthy": done,
                "new_pod_status": f"{ready}/{want} ready",
                "message": f"{total} pods, {ready} ready, want {want}",
            }
        selector = spec.get("selector") or {}
        live = [
            p
            for p in self._pods(namespace)
            if selector_matches(selector, (p.get("metadata") or {}).get("labels") or {})
            and not (p.get("metadata") or {}).get("deletionTimestamp")
        ]
        if on_delete(kind, workload):
            return self._look_on_delete(intent, live)
        # Only pods of the new template, made after the write, show whether the change
        # worked; an old template's pod recreated meanwhile still fails the old way.
        made_after = _rolled_out(live, intent.expected)
        if made_after:
            look = _pod_look(max(made_after, key=created_at), "rolled-out pod", self._threshold)
            if look.get("failing"):
                return look
        if updated < want or ready < want or total > want:
            return {
                "healthy": False,
                "new_pod_status": f"{ready}/{want} ready",
                "message": f"rollout in progress: {updated} updated, {ready} ready of {want}",
            }
        if not live:
            return {"healthy": False, "message": "no pods"}
        newest = max(made_after or live, key=created_at)
        look = _pod_look(newest, "rolled-out pod", self._threshold)
        if look["healthy"] and not all(pod_ready(p) for p in live):
            look["healthy"] = False
            look["message"] = "not every pod is ready yet"
        return look

    def _look_on_delete(self, intent: Intent, live: list[JSON]) -> JSON:
        """`updateStrategy: OnDelete`: the template change reaches no running pod (only pods
        created later). After a memory raise only the in-place resizes changed the running
        pods: healthy when each resized pod runs the new limit, Ready, with no restart since
        the resize; a rollback changes nothing until someone deletes the pods."""
        note = "updateStrategy OnDelete: the template change applies only to pods created later"
        write = intent.result.get("write") if isinstance(intent.result, dict) else None
        entries = [
            e
            for e in ((write or {}).get("resize") or [])
            if isinstance(e, dict) and e.get("result") in ("resized", "unchanged")
        ]
        if intent.action != Action.INCREASE_MEMORY_LIMIT.value or not entries:
            return {
                "healthy": False,
                "message": f"{note}; no running pod was changed: delete the pods to apply it",
            }
        by_uid = {str((p.get("metadata") or {}).get("uid")): p for p in live}
        total = 0
        for entry in entries:
            pod = by_uid.get(str(entry.get("uid")))
            if pod is None:
                continue  # deleted meanwhile: its replacement has the new template
            look = _pod_look(pod, "resized pod", self._threshold)
            at_resize = entry.get("restart_count")
            restarts = pod_restarts(pod)
            total += restarts
            # A container waiting in its back-off when resized starts once more, with room.
            since = restarts - int(at_resize) if isinstance(at_resize, int) else restarts
            if look.get("failing") and since > 1:
                look["message"] = f"{note}; {look['message']} after its resize"
                return look
            state = resize_state(pod, entry).get("state")
            if state != "in_place" or not pod_ready(pod) or classify_pod(pod) is not None:
                return {
                    "healthy": False,
                    "new_pod_name": look.get("new_pod_name"),
                    "new_pod_status": look.get("new_pod_status"),
                    "restart_count": restarts,
                    "message": f"{note}; only the resize changes the running pods: "
                    f"{look['message']}, resize {state}, {since} restart(s) since the resize",
                }
        newest = max(live, key=created_at) if live else None
        return {
            "healthy": True,
            "new_pod_name": None if newest is None else (newest.get("metadata") or {}).get("name"),
            "new_pod_status": "Running",
            # A restart while healthy starts the stability window again (see status()).
            "restart_count": total,
            "message": f"{note}; the running pods were resized in place and run Ready",
        }


def _add_resize(verification: JSON, resize: list[JSON]) -> None:
    # Each pod resized in place, as last seen: kept once the rollout replaced it.
    verification["resize"] = resize
    verification["evidence"] = [_resize_line(entry) for entry in resize]
    verification["message"] = (
        f"{verification.get('message') or ''}; {resize_summary(resize)}"
    ).lstrip("; ")


def _worth_storing(verification: JSON, stored: JSON) -> bool:
    """Stored when something changed that the next look builds on (first healthy moment,
    a verdict, what a resized pod showed); a look that only repeats "pending" writes nothing."""
    return (
        verification["status"] != "pending"
        or verification.get("healthy_since") != stored.get("healthy_since")
        or verification.get("restart_count") != stored.get("restart_count")
        or verification.get("resize") != stored.get("resize")
        or not stored
    )


def rollout_progress(kind: str, workload: JSON) -> tuple[int, int, int, int]:
    """(wanted, updated, ready, total) pods of a Deployment, StatefulSet or DaemonSet."""
    spec = workload.get("spec") or {}
    status = workload.get("status") or {}
    if kind == "DaemonSet":
        want = int(status.get("desiredNumberScheduled") or 0)
        return (
            want,
            int(status.get("updatedNumberScheduled") or 0),
            int(status.get("numberReady") or 0),
            int(status.get("currentNumberScheduled") or 0),
        )
    replicas = spec.get("replicas")
    want = int(replicas) if isinstance(replicas, int) else 1
    updated = int(status.get("updatedReplicas") or 0)
    if kind == "StatefulSet" and status.get("updateRevision") != status.get("currentRevision"):
        updated = min(updated, want - 1)  # the rolling update has not finished
    return (
        want,
        updated,
        int(status.get("readyReplicas") or 0),
        int(status.get("replicas") or 0),
    )


def on_delete(kind: str, workload: JSON) -> bool:
    strategy = (workload.get("spec") or {}).get("updateStrategy") or {}
    return kind in ("StatefulSet", "DaemonSet") and strategy.get("type") == "OnDelete"


def _rolled_out(pods: list[JSON], expected: JSON) -> list[JSON]:
    before = set(expected.get("pods_before") or ())
    old_templates = set(expected.get("hashes_before") or ())
    fresh = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        template = labels.get(POD_TEMPLATE_HASH, labels.get(CONTROLLER_REVISION_HASH))
        if str(meta.get("uid")) not in before and template not in old_templates:
            fresh.append(pod)
    return fresh


def _pod_look(pod: JSON, what: str, restart_threshold: int) -> JSON:
    meta = pod.get("metadata") or {}
    name = str(meta.get("name"))
    restarts = pod_restarts(pod)
    ready = pod_ready(pod)
    issue = classify_pod(pod)
    status = issue or str((pod.get("status") or {}).get("phase") or "Unknown")
    # Failing again, as the rules would see it: past the restart threshold that made the
    # first pod a case, or a failure that is not a crash (a pull, a config error).
    crashing = issue in ("CrashLoopBackOff", "Error", "OOMKilled")
    failing = issue in FAILING_AGAIN and (not crashing or restarts > restart_threshold)
    return {
        "healthy": ready and restarts == 0,
        "failing": failing,
        "new_pod_name": name,
        "new_pod_uid": str(meta.get("uid") or ""),
        "new_pod_status": status,
        "restart_count": restarts,
        "message": f"{what} {name}: {status}, ready={ready}, restarts={restarts}",
    }


# ---------------------------------------------------------------------- in-place resize


def _condition(pod: JSON, kind: str) -> JSON | None:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if isinstance(condition, dict) and condition.get("type") == kind:
            if str(condition.get("status")) == "True":
                return condition
    return None


def resize_state(pod: JSON, entry: JSON) -> JSON:
    """One resized pod now: `in_place` (its container runs with the new limit:
    `status.containerStatuses[].resources`), `pending` (the kubelet's `PodResizePending`:
    Deferred or Infeasible; the template rollout replaces the pod instead) or `in_progress`."""
    container = entry.get("container")
    wanted = memory_bytes((entry.get("memory_limit") or {}).get("after"))
    status = next(
        (
            s
            for s in (pod.get("status") or {}).get("containerStatuses") or []
            if isinstance(s, dict) and s.get("name") == container
        ),
        {},
    )
    running = ((status.get("resources") or {}).get("limits") or {}).get("memory")
    restarts_then = entry.get("restart_count")
    restarts = int(status.get("restartCount") or 0)
    look: JSON = {
        "pod": entry.get("pod"),
        "uid": entry.get("uid"),
        "container": container,
        "memory_limit": (entry.get("memory_limit") or {}).get("after"),
        "running_limit": running,
        "restart_count_at_resize": restarts_then,
        "restart_count": restarts,
    }
    pending = _condition(pod, "PodResizePending")
    if wanted is not None and memory_bytes(running) == wanted and pending is None:
        look["state"] = "in_place"
    elif pending is not None:
        look["state"] = "pending"
        look["reason"] = pending.get("reason")
        look["detail"] = str(pending.get("message") or "")[:300]
    else:
        look["state"] = "in_progress"
        progress = _condition(pod, "PodResizeInProgress")
        if progress is not None and progress.get("message"):
            look["detail"] = str(progress.get("message"))[:300]
    return look


def _resize_not_sent(entry: JSON) -> JSON:
    return {
        "pod": entry.get("pod"),
        "uid": entry.get("uid"),
        "container": entry.get("container"),
        "memory_limit": (entry.get("memory_limit") or {}).get("after"),
        "state": str(entry.get("result")),
        "detail": str(entry.get("message") or "")[:300],
    }


def _resize_gone(entry: JSON, last: JSON | None, *, unknown: bool) -> JSON:
    if last is not None:
        return {**last, "pod_gone": not unknown} if not unknown else last
    return {
        "pod": entry.get("pod"),
        "uid": entry.get("uid"),
        "container": entry.get("container"),
        "memory_limit": (entry.get("memory_limit") or {}).get("after"),
        "state": "unknown" if unknown else "replaced",
        "pod_gone": not unknown,
    }


def _resize_line(look: JSON) -> str:
    """One pod's resize as a sentence for the verdict's evidence."""
    pod = look.get("pod")
    limit = look.get("memory_limit")
    state = look.get("state")
    if state == "in_place":
        then, now = look.get("restart_count_at_resize"), look.get("restart_count")
        restarts = (
            f"restart count unchanged at {now}"
            if then == now
            else f"restart count {then} at the resize, {now} now"
        )
        gone = "; since replaced by the template rollout" if look.get("pod_gone") else ""
        return f"pod {pod} resized in place to {limit} ({restarts}){gone}"
    if state == "pending":
        detail = f": {look.get('detail')}" if look.get("detail") else ""
        return (
            f"pod {pod} resize pending: {look.get('reason')}{detail}; fell back to the template "
            "rollout"
        )
    if state == "in_progress":
        return f"pod {pod} resize to {limit} in progress"
    if state == "replaced":
        return f"pod {pod} was replaced by the template rollout before its resize showed"
    if state == "unchanged":
        return f"pod {pod} already ran with {limit}"
    if state == "unknown":
        return f"pod {pod}: resize not observed"
    detail = f" ({look.get('detail')})" if look.get("detail") else ""
    return f"pod {pod} not resized in place: {state}{detail}; left to the template rollout"


def resize_summary(looks: list[JSON]) -> str:
    """The resize part of the verdict's message."""
    in_place = [str(look.get("pod")) for look in looks if look.get("state") == "in_place"]
    # Replaced by a fast rollout before a look saw the resize: nothing fell back, we only
    # did not see it.
    replaced = [str(look.get("pod")) for look in looks if look.get("state") == "replaced"]
    fell_back = [
        str(look.get("pod"))
        for look in looks
        if look.get("state") not in ("in_place", "in_progress", "unchanged", "unknown", "replaced")
    ]
    parts = []
    if in_place:
        parts.append(f"resized in place: {', '.join(in_place)}")
    if replaced:
        parts.append(
            f"replaced by the template rollout before the resize showed: {', '.join(replaced)}"
        )
    if fell_back:
        parts.append(f"fell back to the template rollout: {', '.join(fell_back)}")
    waiting = len(looks) - len(in_place) - len(replaced) - len(fell_back)
    if waiting:
        parts.append(f"{waiting} resize(s) not settled")
    return "; ".join(parts)
