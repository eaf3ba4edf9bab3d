"""Turn a scenario into a running kubesim: recorded objects, logs, images, and behaviour.

A recording says how the cluster looked; `behaviour` says how it goes on. Behaviour becomes
`kubesim.io/*` annotations (docs/kubesim.md):

- on each recorded pod, how *that* pod keeps behaving (inferred from its status: a crash-looping
  container keeps crashing with its recorded exit code, an OOM-killed one keeps outgrowing its
  limit, a liveness-killed one keeps failing its probe);
- on the current revision's pod template (the ReplicaSet and the Deployment, identically, so
  the deployment controller still sees one template), how a *fresh* pod behaves: `after_delete`;
- on older ReplicaSets' templates, how the previous revision behaves: `after_rollback`;
- `memory_needed` / `memory_leak_per_minute` / `memory_plateau` on every template, so a raised
  limit helps exactly when it is at least what the workload needs.

Objects that already carry `kubesim.io/*` annotations (a kubesim incident recorded with
`kubemedic record`) keep them: the recording is the behaviour.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from evals.format import Behaviour, PodBehaviour, Scenario

Obj = dict[str, Any]
PREFIX = "kubesim.io/"
PULL_FAILURES = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName")


def parse_stamp(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _annotations(meta: Obj) -> dict[str, str]:
    annotations = meta.get("annotations")
    if not isinstance(annotations, dict):
        annotations = {}
        meta["annotations"] = annotations
    return annotations


def _has_behaviour(meta: Obj) -> bool:
    return any(str(k).startswith(PREFIX) for k in (meta.get("annotations") or {}))


def _set(meta: Obj, values: dict[str, str]) -> None:
    if values and not _has_behaviour(meta):
        _annotations(meta).update(values)


def _memory_limit(spec: Obj) -> str | None:
    for c in spec.get("containers") or []:
        limit = ((c.get("resources") or {}).get("limits") or {}).get("memory")
        if limit:
            return str(limit)
    return None


def behaviour_annotations(
    kind: PodBehaviour, behaviour: Behaviour, spec: Obj, events: list[str] | None = None
) -> dict[str, str]:
    """kubesim.io annotations for a pod (template) that behaves like `kind`."""
    out: dict[str, str] = {}
    if behaviour.memory_needed:
        out[PREFIX + "memory"] = behaviour.memory_needed
    if behaviour.memory_leak_per_minute:
        out.setdefault(PREFIX + "memory", "64Mi")
        out[PREFIX + "memory-growth"] = f"{behaviour.memory_leak_per_minute}/min"
        if behaviour.memory_plateau:
            out[PREFIX + "memory-plateau"] = behaviour.memory_plateau
    lines = "\n".join(line for line in behaviour.log_lines if line.strip())
    if kind == "healthy":
        return out
    if lines:
        out[PREFIX + "log-startup"] = lines
    if kind == "crash":
        out[PREFIX + "crash-after"] = f"{behaviour.crash_after_seconds:g}s"
        out[PREFIX + "exit-code"] = str(behaviour.exit_code)
    elif kind == "oom":
        if PREFIX + "memory" not in out:
            # No figure given: needs twice its limit, so no modest raise helps.
            out[PREFIX + "oom-after"] = f"{behaviour.crash_after_seconds:g}s"
    elif kind == "probe_failure":
        out[PREFIX + "liveness"] = "fail"
        output = next((e for e in events or [] if e.startswith("Liveness probe failed")), "")
        if output:
            out[PREFIX + "liveness-output"] = output.removeprefix("Liveness probe failed: ")
    return out


def _container_state(pod: Obj) -> tuple[str | None, Obj]:
    """The first non-running container's (waiting reason, status)."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        waiting = (status.get("state") or {}).get("waiting")
        if waiting:
            return str(waiting.get("reason") or ""), status
    return None, {}


def _events_for(objects: list[Obj], uid: str) -> list[Obj]:
    return [
        o
        for o in objects
        if o.get("kind") == "Event" and (o.get("involvedObject") or {}).get("uid") == uid
    ]


def infer_pod_behaviour(pod: Obj, objects: list[Obj]) -> PodBehaviour | None:
    """How a recorded pod keeps behaving, from its status and events (None: leave it be)."""
    reason, status = _container_state(pod)
    if reason != "CrashLoopBackOff":
        return None
    last = ((status.get("lastState") or {}).get("terminated")) or {}
    if last.get("reason") == "OOMKilled":
        return "oom"
    uid = (pod.get("metadata") or {}).get("uid", "")
    for event in _events_for(objects, uid):
        if event.get("reason") == "Killing" and "liveness" in str(event.get("message", "")):
            return "probe_failure"
    return "crash"


def _pull_outcome(pod: Obj, objects: list[Obj]) -> str | None:
    reason, status = _container_state(pod)
    if reason not in PULL_FAILURES or reason == "InvalidImageName":
        return None
    uid = (pod.get("metadata") or {}).get("uid", "")
    texts = [str(((status.get("state") or {}).get("waiting") or {}).get("message", ""))]
    texts += [str(e.get("message", "")) for e in _events_for(objects, uid)]
    text = " ".join(texts)
    if "401 Unauthorized" in text or "failed to authorize" in text:
        return "unauthorized"
    if "pull access denied" in text or "insufficient_scope" in text:
        return "no-repository"
    return "not-found"


def _revision(obj: Obj) -> int:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    try:
        return int(annotations.get("deployment.kubernetes.io/revision", "0"))
    except ValueError:
        return 0


def _controller_uid(obj: Obj) -> str | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def _images(spec: Obj) -> list[str]:
    return [str(c.get("image")) for c in spec.get("containers") or [] if c.get("image")]


@dataclass
class Prepared:
    """A scenario made ready for kubesim (pure data; `install` puts it into a KubeSim)."""

    recorded_at: datetime
    nodes: list[Obj]
    objects: list[Obj]  # everything else, behaviour annotations applied
    # ns, pod, container, prev, current; a log recorded as a failed read seeds no lines
    logs: list[tuple[str, str, str, list[str], list[str]]]
    pullable: set[str] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)


def prepare(scenario: Scenario) -> Prepared:
    objects = copy.deepcopy(scenario.cluster.objects)
    behaviour = scenario.behaviour
    pods = [o for o in objects if o.get("kind") == "Pod"]
    replicasets = [o for o in objects if o.get("kind") == "ReplicaSet"]
    deployments = [o for o in objects if o.get("kind") == "Deployment"]
    pullable: set[str] = set()
    missing: set[str] = set()
    failing_templates: dict[str, dict[str, str]] = {}  # rs uid -> pull annotations
    target = (scenario.target.namespace, scenario.target.pod)
    for pod in pods:
        meta = pod.setdefault("metadata", {})
        spec = pod.get("spec") or {}
        reason, _ = _container_state(pod)
        if reason == "InvalidImageName":
            continue  # the reference itself is broken: never put it in the registry
        pull = _pull_outcome(pod, objects)
        if pull is not None:
            values = {PREFIX + "pull": pull}
            _set(meta, values)
            owner = _controller_uid(pod)
            if owner:
                failing_templates[owner] = values
            if pull == "not-found":
                missing.update(_images(spec))
            continue
        pullable.update(_images(spec))
        override = behaviour.pods.get(meta.get("name", ""))
        kind = override or infer_pod_behaviour(pod, objects)
        if kind is None:
            continue
        event_texts = [str(e.get("message", "")) for e in _events_for(objects, meta.get("uid", ""))]
        if (meta.get("namespace"), meta.get("name")) == target or override:
            _set(meta, behaviour_annotations(kind, behaviour, spec, event_texts))
        else:
            _set(meta, behaviour_annotations(kind, _inferred(behaviour), spec, event_texts))
    for deploy in deployments:
        uid = deploy["metadata"].get("uid")
        owned = sorted(
            (rs for rs in replicasets if _controller_uid(rs) == uid), key=_revision, reverse=True
        )
        for index, rs in enumerate(owned):
            template = rs["spec"]["template"]
            tmeta = template.setdefault("metadata", {})
            tspec = template.get("spec") or {}
            if rs["metadata"].get("uid") in failing_templates:
                values = failing_templates[rs["metadata"]["uid"]]
            else:
                kind = behaviour.after_delete if index == 0 else behaviour.after_rollback
                values = behaviour_annotations(kind, behaviour, tspec)
                pullable.update(_images(tspec))
            _set(tmeta, values)
            if index == 0:
                # The Deployment's template and its current ReplicaSet's stay one template.
                dmeta = deploy["spec"]["template"].setdefault("metadata", {})
                if not _has_behaviour(dmeta):
                    dmeta["annotations"] = copy.deepcopy(tmeta.get("annotations") or {})
        if not owned:
            tspec = deploy["spec"]["template"].get("spec") or {}
            values = behaviour_annotations(behaviour.after_delete, behaviour, tspec)
            _set(deploy["spec"]["template"].setdefault("metadata", {}), values)
            pullable.update(_images(tspec))
    for claim in objects:
        # A claim recorded unbound stays unbound: the recording says no provisioner served it.
        if claim.get("kind") == "PersistentVolumeClaim":
            if (claim.get("status") or {}).get("phase") == "Pending":
                _set(claim.setdefault("metadata", {}), {PREFIX + "unbound": "true"})
    pullable -= missing
    objects += unreadable_placeholders(scenario, objects)
    nodes = [o for o in objects if o.get("kind") == "Node"]
    rest = [o for o in objects if o.get("kind") != "Node"]
    logs = []
    for entry in scenario.logs:
        ns = entry.namespace or scenario.target.namespace
        logs.append((ns, entry.pod, entry.container, list(entry.previous), list(entry.current)))
    recorded = scenario.cluster.recorded_at
    recorded_at = parse_stamp(recorded) if recorded else datetime.now(UTC).replace(microsecond=0)
    return Prepared(recorded_at, nodes, rest, logs, pullable, missing)


def _refused_names(scenario: Scenario, kind: str) -> set[str]:
    return {
        note.name
        for note in scenario.notes
        if note.kind == kind and note.name and note.status in (401, 403)
    }


def unreadable_placeholders(scenario: Scenario, objects: list[Obj]) -> list[Obj]:
    """Stand-ins for the ConfigMaps and Secrets a recording was not allowed to read.

    A pod that ran had them (the kubelet would have refused to start it otherwise), so the
    replay must not diagnose them as missing: each gets an empty object with the keys the pods
    refer to, marked `kubemedic.io/placeholder`. One a pod's status reports missing (a
    CreateContainerConfigError naming it) gets none."""
    present = {(o.get("kind"), (o.get("metadata") or {}).get("name")) for o in objects}
    pods = [o for o in objects if o.get("kind") == "Pod"]
    waiting = " ".join(
        str(((status.get("state") or {}).get("waiting") or {}).get("message", ""))
        for pod in pods
        for status in (pod.get("status") or {}).get("containerStatuses") or []
    )
    out: list[Obj] = []
    for kind, ref_key in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
        for name in sorted(_refused_names(scenario, kind)):
            if (kind, name) in present or f'"{name}" not found' in waiting:
                continue
            keys = sorted(
                {
                    str(ref.get("key"))
                    for pod in pods
                    for c in (pod.get("spec") or {}).get("containers") or []
                    for env in c.get("env") or []
                    for ref in [((env.get("valueFrom") or {}).get(ref_key)) or {}]
                    if ref.get("name") == name and ref.get("key")
                }
            )
            out.append(
                {
                    "apiVersion": "v1",
                    "kind": kind,
                    "metadata": {
                        "name": name,
                        "namespace": scenario.target.namespace,
                        "annotations": {"kubemedic.io/placeholder": "not readable when recorded"},
                    },
                    "data": {key: "" for key in keys},
                }
            )
    return out


def _inferred(behaviour: Behaviour) -> Behaviour:
    """Other failing pods keep failing as recorded, without the target's log script."""
    return behaviour.model_copy(update={"log_lines": []})


def catalog_of(sim: Any) -> Any | None:
    """kubesim's image catalog, wherever this kubesim version keeps it."""
    for path in (
        "images",
        "controllers.images",
        "controllers.context.images",
        "controllers.ctx.images",
    ):
        obj: Any = sim
        for part in path.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if obj is not None and hasattr(obj, "add"):
            return obj
    return None


def install(sim: Any, prepared: Prepared) -> None:
    """Load a prepared scenario into a started KubeSim (whose clock starts at recorded_at)."""
    catalog = catalog_of(sim)
    if catalog is not None:
        for image in sorted(prepared.pullable):
            catalog.add(image)
        for image in sorted(prepared.missing):
            catalog.remove(image)
    sim.load(prepared.objects)
    # Logs after the objects: the recorded lines are what the containers printed before now.
    now = sim.clock.seconds()
    for ns, pod, container, previous, current in prepared.logs:
        if previous:
            for i, line in enumerate(previous):
                sim.logs.append(ns, pod, container, line, now - 60 + i * 0.01)
            sim.logs.rotate(ns, pod, container)
        for i, line in enumerate(current):
            sim.logs.append(ns, pod, container, line, now - 5 + i * 0.01)


def start_sim(scenario: Scenario, **kwargs: Any) -> Any:
    """A fresh, started KubeSim (manual clock, the scenario's Kubernetes version) holding the
    scenario."""
    from kubesim import KubeSim

    prepared = prepare(scenario)
    kwargs.setdefault("kube_version", scenario.cluster.kube_version)
    sim = KubeSim(
        speed=0.0,
        nodes=prepared.nodes or None,
        start=prepared.recorded_at,
        **kwargs,
    )
    sim.start()
    try:
        install(sim, prepared)
    except BaseException:
        sim.stop()
        raise
    return sim
