"""StatefulSets and DaemonSets healed through the same plan / approval / intent path as
Deployments: through a real MCP client session against kubesim over HTTP, approvals granted on
the server's store (as `kubemedic approvals approve` does), the simulated clock advanced (no
sleeps), the cluster checked with the real kubectl and each write counted in kubesim's
request log.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from mcp import ClientSession

from kubesim import KubeSim
from kubesim.store import CONTROLLERREVISIONS, DAEMONSETS, PODS, STATEFULSETS
from mcp_server.state import ServerState
from tests.integration.kubesim.apps_workloads import DAEMONSET, STATEFULSET, with_image
from tests.integration.mcp.conftest import (
    call,
    kubectl,
    live,
    make_state,
    restarts,
    run_session,
    verified,
    wait_for,
    writes,
)

JSON = dict[str, Any]
NS = "default"

# stress holds 100M under a 50Mi limit: OOM-killed until the limit is raised. OrderedReady (the
# default): its rolling update replaces no pod while one is not Running and Ready, so the
# server deletes the stuck pods after the template patch (Kubernetes' "forced rollback").
OOM_STATEFULSET = """
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: cache, namespace: default}
spec:
  replicas: 2
  serviceName: cache
  selector: {matchLabels: {app: cache}}
  template:
    metadata: {labels: {app: cache}}
    spec:
      containers:
      - name: memory-hog
        image: polinux/stress
        command: ["stress"]
        args: ["--vm", "1", "--vm-bytes", "100M"]
        resources:
          limits: {memory: 50Mi}
"""
OOM_DAEMONSET = """
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: default}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers:
      - name: memory-hog
        image: polinux/stress
        command: ["stress"]
        args: ["--vm", "1", "--vm-bytes", "100M"]
        resources:
          limits: {memory: 50Mi}
"""
BAD_IMAGE = "nginx:no-such-tag-404"


def oom_looping(sim: KubeSim, prefix: str, count: int) -> bool:
    found = live(sim, prefix)
    return len(found) == count and all(restarts(p) > 1 for p in found)


def waiting_reason(pod: JSON) -> str | None:
    statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
    state = statuses[0].get("state") or {}
    return (state.get("waiting") or {}).get("reason")


def workload_writes(sim: KubeSim) -> list[tuple[str, str, str, str]]:
    """Every write but the Events kubemedic records: (verb, resource, subresource, path)."""
    return [
        (r.verb, r.resource, r.subresource, r.path) for r in writes(sim) if r.resource != "events"
    ]


async def approved_heal(
    session: ClientSession, state: ServerState, pod_name: str, action: str
) -> tuple[JSON, JSON]:
    """Ask (an approval with its preview), a human grants it out of band, execute once."""
    asked = await call(session, "auto_heal_pod", namespace=NS, pod_name=pod_name, diagnosis={})
    assert (asked.get("error") or {}).get("code") == "approval_required", asked
    assert asked["error"]["action"] == action, asked
    state.approvals.grant(asked["error"]["approval_id"], by="alice")
    done = await call(
        session,
        "auto_heal_pod",
        namespace=NS,
        pod_name=pod_name,
        plan_id=asked["error"]["plan_id"],
        approval_id=asked["error"]["approval_id"],
        idempotency_key=f"heal-{pod_name}",
    )
    assert done["success"] is True, done
    # The same key again: the recorded outcome, nothing written twice.
    again = await call(
        session,
        "auto_heal_pod",
        namespace=NS,
        pod_name=pod_name,
        plan_id=asked["error"]["plan_id"],
        approval_id=asked["error"]["approval_id"],
        idempotency_key=f"heal-{pod_name}",
    )
    assert again.get("replayed") is True, again
    return asked["error"], done


# ---------------------------------------------------------------------------- restart


def crash_looping_statefulset_pod(sim: KubeSim) -> None:
    """The recorded StatefulSet `db`, whose pod db-0 alone crashes (its own annotation, which
    the StatefulSet's template does not carry: a restart from the template cures it)."""
    sim.apply(copy.deepcopy(STATEFULSET))
    sim.advance(30)
    with sim.store.lock:
        old = sim.store.get(PODS, NS, "db-0")
        sim.store.delete(PODS, NS, "db-0")
        new = copy.deepcopy(old)
        for key in ("uid", "resourceVersion", "creationTimestamp"):
            new["metadata"].pop(key, None)
        new["metadata"].setdefault("annotations", {})["kubesim.io/crash-after"] = "2s"
        new.pop("status", None)
        sim.store.create(PODS, new)
    wait_for(
        sim,
        lambda: (
            restarts(pod := live(sim, "db-0")[0]) > 3 and waiting_reason(pod) == "CrashLoopBackOff"
        ),
        step=1,
    )


def test_a_crash_looping_statefulset_pod_is_restarted_and_its_same_name_replacement_heals(
    sim: KubeSim, tmp_path: Path
) -> None:
    crash_looping_statefulset_pod(sim)
    old_uid = live(sim, "db-0")[0]["metadata"]["uid"]
    state = make_state(sim, tmp_path / "state", pod_cache=True)
    sim.reset_requests()

    async def body(session: ClientSession) -> None:
        asked, done = await approved_heal(session, state, "db-0", "delete_pod")
        assert asked["preview"]["deletes"] == [
            {"object": "Pod/default/db-0", "replaced_by": "StatefulSet/default/db"}
        ], asked["preview"]
        check = await verified(session, sim, done["action_id"])
        assert check["status"] == "healed", check["message"]
        # The replacement is found through its owner: the same name, a new uid.
        assert check["new_pod_name"] == "db-0", check
        assert check["new_pod_uid"] not in ("", old_uid), check

    try:
        run_session(state, body)
    finally:
        state.close()
    deletes = [w for w in workload_writes(sim) if w[0] == "delete"]
    assert deletes == [("delete", "pods", "", "/api/v1/namespaces/default/pods/db-0")]
    assert len(workload_writes(sim)) == 1
    shown = kubectl(sim, tmp_path, "get", "pod", "db-0", "-o", "jsonpath={.metadata.uid}")
    assert shown and shown != old_uid


# ------------------------------------------------------------------------- memory


def template_limit(sim: KubeSim, tmp_path: Path, kind: str, name: str) -> str:
    return kubectl(
        sim,
        tmp_path,
        "get",
        kind,
        name,
        "-o",
        "jsonpath={.spec.template.spec.containers[0].resources.limits.memory}",
    )


def test_at_128_an_oom_killed_statefulset_gets_its_template_raised_and_heals(
    sim: KubeSim, tmp_path: Path
) -> None:
    sim.apply(OOM_STATEFULSET)
    wait_for(sim, lambda: oom_looping(sim, "cache-", 2), step=10)
    state = make_state(sim, tmp_path / "state", pod_cache=False)
    sim.reset_requests()

    async def body(session: ClientSession) -> None:
        asked, done = await approved_heal(session, state, "cache-1", "increase_memory_limit")
        assert asked["target"]["kind"] == "StatefulSet", asked
        # The pods failing at that moment (an OOM-looping pod is briefly Ready between kills).
        stuck = [d["object"] for d in asked["preview"]["deletes"]]
        assert stuck and set(stuck) <= {"Pod/default/cache-0", "Pod/default/cache-1"}, stuck
        changes = [(c["object"], c["path"], c["after"]) for c in asked["preview"]["changes"]]
        assert (
            "StatefulSet/default/cache",
            "spec.template.spec.containers[memory-hog].resources.limits.memory",
            "150Mi",
        ) in changes, changes
        check = await verified(session, sim, done["action_id"])
        assert check["status"] == "healed", check["message"]
        assert "resize" not in check, check

    try:
        run_session(state, body)
    finally:
        state.close()
    sent = [(w[0], w[1], w[3].rsplit("/", 1)[-1]) for w in workload_writes(sim)]
    assert sent[0] == ("patch", "statefulsets", "cache"), sent
    deleted = sent[1:]
    assert deleted and set(deleted) <= {
        ("delete", "pods", "cache-0"),
        ("delete", "pods", "cache-1"),
    }
    assert len(set(deleted)) == len(deleted), sent  # each pod once
    assert template_limit(sim, tmp_path, "statefulset", "cache") == "150Mi"
    assert all(restarts(p) == 0 for p in live(sim, "cache-"))


def test_at_133_statefulset_pods_are_resized_in_place_then_the_template_is_patched(
    sim133: KubeSim, tmp_path: Path
) -> None:
    sim = sim133
    sim.apply(OOM_STATEFULSET)
    wait_for(sim, lambda: oom_looping(sim, "cache-", 2), step=10)
    state = make_state(sim, tmp_path / "state", pod_cache=True)
    sim.reset_requests()

    async def body(session: ClientSession) -> None:
        asked, done = await approved_heal(session, state, "cache-0", "increase_memory_limit")
        in_place = [c for c in asked["preview"]["changes"] if c["object"].startswith("Pod/")]
        assert {c["object"] for c in in_place} == {
            "Pod/default/cache-0",
            "Pod/default/cache-1",
        }, in_place
        check = await verified(session, sim, done["action_id"])
        assert check["status"] == "healed", check["message"]
        # Resized in place, then rolled (a pod the rollout replaced before a look saw its
        # resize is said so).
        assert "resized in place: cache-0" in check["message"], check["message"]

    try:
        run_session(state, body)
    finally:
        state.close()
    sent = [(w[0], w[1], w[2]) for w in workload_writes(sim)]
    assert sent == [("patch", "pods", "resize")] * 2 + [("patch", "statefulsets", "")], sent
    assert template_limit(sim, tmp_path, "statefulset", "cache") == "150Mi"


def test_an_oom_killed_daemonset_gets_its_template_raised_and_heals(
    sim: KubeSim, tmp_path: Path
) -> None:
    sim.apply(OOM_DAEMONSET)
    wait_for(sim, lambda: oom_looping(sim, "agent-", 2), step=10)
    name = sorted(p["metadata"]["name"] for p in live(sim, "agent-"))[0]
    state = make_state(sim, tmp_path / "state", pod_cache=False)
    sim.reset_requests()

    async def body(session: ClientSession) -> None:
        asked, done = await approved_heal(session, state, name, "increase_memory_limit")
        assert asked["target"]["kind"] == "DaemonSet", asked
        check = await verified(session, sim, done["action_id"])
        assert check["status"] == "healed", check["message"]

    try:
        run_session(state, body)
    finally:
        state.close()
    assert [(w[0], w[1], w[2]) for w in workload_writes(sim)] == [("patch", "daemonsets", "")]
    assert template_limit(sim, tmp_path, "daemonset", "agent") == "150Mi"


def test_at_133_an_on_delete_daemonset_is_healed_by_the_resize_alone(
    sim133: KubeSim, tmp_path: Path
) -> None:
    sim = sim133
    manifest = yaml.safe_load(OOM_DAEMONSET)
    manifest["spec"]["updateStrategy"] = {"type": "OnDelete"}
    sim.apply(manifest)
    wait_for(sim, lambda: oom_looping(sim, "agent-", 2), step=10)
    before = {p["metadata"]["uid"] for p in live(sim, "agent-")}
    name = sorted(p["metadata"]["name"] for p in live(sim, "agent-"))[0]
    state = make_state(sim, tmp_path / "state", pod_cache=True)
    sim.reset_requests()

    async def body(session: ClientSession) -> None:
        _, done = await approved_heal(session, state, name, "increase_memory_limit")
        check = await verified(session, sim, done["action_id"])
        assert check["status"] == "healed", check["message"]
        assert "OnDelete" in check["message"], check
        assert "resized in place" in check["message"], check

    try:
        run_session(state, body)
    finally:
        state.close()
    sent = [(w[0], w[1], w[2]) for w in workload_writes(sim)]
    assert sent == [("patch", "pods", "resize")] * 2 + [("patch", "daemonsets", "")], sent
    # OnDelete: the template changed, the running pods were resized, none was replaced.
    assert {p["metadata"]["uid"] for p in live(sim, "agent-")} == before


# ----------------------------------------------------------------------- rollback


def bad_rollout(sim: KubeSim, manifest: JSON, prefix: str) -> None:
    sim.apply(copy.deepcopy(manifest))
    sim.advance(30, step=1)
    sim.apply(with_image(manifest, BAD_IMAGE))
    wait_for(
        sim,
        lambda: any(
            waiting_reason(p) in ("ImagePullBackOff", "ErrImagePull") for p in live(sim, prefix)
        ),
        step=5,
    )
    sim.advance(30)


async def approved_rollback(
    session: ClientSession, state: ServerState, kind: str, name: str
) -> tuple[JSON, JSON]:
    asked = await call(
        session, "rollback_deployment", namespace=NS, deployment_name=name, kind=kind
    )
    assert asked["error"]["code"] == "approval_required", asked
    assert asked["error"]["target"] == {"kind": kind, "namespace": NS, "name": name}, asked
    assert asked["error"]["parameters"]["revision"] == 1, asked
    state.approvals.grant(asked["error"]["approval_id"], by="alice")
    done = await call(
        session,
        "rollback_deployment",
        namespace=NS,
        deployment_name=name,
        kind=kind,
        approval_id=asked["error"]["approval_id"],
        plan_id=asked["error"]["plan_id"],
    )
    assert done["success"] is True, done
    assert (done["kind"], done["from_revision"], done["to_revision"]) == (kind, 2, 1), done
    return asked["error"], done


@pytest.mark.parametrize(
    ("kind", "manifest", "prefix"),
    [("StatefulSet", STATEFULSET, "db-"), ("DaemonSet", DAEMONSET, "node-agent-")],
)
def test_a_bad_image_rollout_is_rolled_back_to_the_previous_revision_as_kubectl_undo_does(
    sim: KubeSim, tmp_path: Path, kind: str, manifest: JSON, prefix: str
) -> None:
    bad_rollout(sim, manifest, prefix)
    name = manifest["metadata"]["name"]
    state = make_state(sim, tmp_path / "state", pod_cache=True)
    sim.reset_requests()

    async def body(session: ClientSession) -> None:
        asked, done = await approved_rollback(session, state, kind, name)
        changes = [(c["path"], c["before"], c["after"]) for c in asked["preview"]["changes"]]
        container = manifest["spec"]["template"]["spec"]["containers"][0]["name"]
        assert (
            f"spec.template.spec.containers[{container}].image",
            BAD_IMAGE,
            "nginx:1.25",
        ) in changes, changes
        check = await verified(session, sim, done["action_id"])
        assert check["status"] == "healed", check["message"]

    try:
        run_session(state, body)
    finally:
        state.close()
    resource = kind.lower() + "s"
    sent = workload_writes(sim)
    patched = ("patch", resource, "", f"/apis/apps/v1/namespaces/default/{resource}/{name}")
    if kind == "StatefulSet":
        # OrderedReady: db-1, stuck on the image that does not pull, would block the rolling
        # update back forever; it is deleted (uid precondition) after the template patch.
        assert sent == [patched, ("delete", "pods", "", "/api/v1/namespaces/default/pods/db-1")]
    else:
        assert sent == [patched]
    # The approval's preview was the same patch with dryRun=All, before the real one.
    dry = [r for r in sim.requests if r.verb == "patch" and "dryRun=All" in (r.query or "")]
    assert [r.resource for r in dry] == [resource]
    image = kubectl(
        sim, tmp_path, "get", kind.lower(), name, "-o", "jsonpath={.spec.template..image}"
    )
    assert image == "nginx:1.25"
    # As after `kubectl rollout undo`: revision 1 came back as revision 3.
    history = kubectl(sim, tmp_path, "rollout", "history", f"{kind.lower()}/{name}")
    numbers = [line.split()[0] for line in history.splitlines()[2:] if line.strip()]
    assert numbers == ["2", "3"], history
    revisions = {
        r["revision"]: r["data"]["spec"]["template"]["spec"]["containers"][0]["image"]
        for r in sim.store.list(CONTROLLERREVISIONS, NS)
        if r["metadata"]["ownerReferences"][0]["name"] == name
    }
    assert revisions == {2: BAD_IMAGE, 3: "nginx:1.25"}
    assert all(waiting_reason(p) is None for p in live(sim, prefix))


def test_a_hostile_caller_cannot_roll_back_what_the_rules_do_not_allow(
    sim: KubeSim, tmp_path: Path
) -> None:
    """Two healthy revisions: no failure, so no rollback, whatever the caller asks; a wrong
    kind or revision is refused too; nothing is written."""
    sim.apply(copy.deepcopy(STATEFULSET))
    sim.advance(30, step=1)
    sim.apply(with_image(STATEFULSET, "nginx:1.26"))
    sim.advance(90, step=1)
    bad_rollout(sim, DAEMONSET, "node-agent-")
    state = make_state(sim, tmp_path / "state", pod_cache=False, trusted=frozenset({"tester"}))
    sim.reset_requests()

    async def body(session: ClientSession) -> None:
        healthy = await call(
            session,
            "rollback_deployment",
            namespace=NS,
            deployment_name="db",
            kind="StatefulSet",
            force=True,
        )
        assert healthy["error"]["code"] == "vetoed", healthy
        wrong_revision = await call(
            session,
            "rollback_deployment",
            namespace=NS,
            deployment_name="node-agent",
            kind="DaemonSet",
            revision=2,
            force=True,
        )
        assert wrong_revision["error"]["code"] == "vetoed", wrong_revision
        wrong_kind = await call(
            session,
            "rollback_deployment",
            namespace=NS,
            deployment_name="node-agent",
            kind="StatefulSet",
        )
        assert wrong_kind["error"]["code"] == "not_found", wrong_kind
        # A pod of the healthy StatefulSet: the plan is `none`, nothing to roll back.
        plan = await call(
            session, "plan_healing", namespace=NS, pod_name="db-0", action="rollback_deployment"
        )
        assert plan["error"]["code"] == "vetoed", plan

    try:
        run_session(state, body)
    finally:
        state.close()
    assert workload_writes(sim) == []
    assert sim.store.get(STATEFULSETS, NS, "db")["spec"]["template"]["spec"]["containers"][0][
        "image"
    ] == ("nginx:1.26")
    assert sim.store.get(DAEMONSETS, NS, "node-agent")["spec"]["template"]["spec"]["containers"][0][
        "image"
    ] == (BAD_IMAGE)
