# ruff: noqa: E501  (log lines and manifests are data, kept verbatim)
"""DaemonSets recorded from kubesim: crash loops, OOM kills, bad images, a node the
DaemonSet cannot run on."""

from __future__ import annotations

from typing import Any

from evals.tools.catalogue.common import ScenarioFn, collector
from evals.tools.gen_kinds import (
    NO_SET_WRITES,
    Obj,
    Recording,
    Sim,
    assemble,
    crash_looping,
    pods_named,
    record,
)

SCENARIOS: list[ScenarioFn] = []
scenario = collector(SCENARIOS)


def daemonset(ns: str, name: str, image: str, memory: str = "128Mi",
              annotations: dict[str, str] | None = None) -> str:  # fmt: skip
    notes = ""
    if annotations:
        notes = (
            "\n      annotations: {"
            + ", ".join(f'{k}: "{v}"' for k, v in annotations.items())
            + "}"
        )
    return f"""
apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: {name}, namespace: {ns}}}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata:
      labels: {{app: {name}}}{notes}
    spec:
      containers:
      - name: {name}
        image: {image}
        resources: {{limits: {{memory: {memory}}}, requests: {{memory: 64Mi, cpu: 20m}}}}
"""


SHIPPER_LINES = [
    "2026-03-14T09:03:10Z INFO  log-shipper starting node=worker-1",
    "2026-03-14T09:03:15Z ERROR output elasticsearch: dial tcp 10.96.40.12:9200: connect: connection refused",
    "2026-03-14T09:03:15Z FATAL no output available after 5 attempts",
]


def ds_transient(ns: str) -> Recording:
    with Sim() as sim:
        sim.apply(daemonset(ns, "log-shipper", "nginx:1.25"))
        sim.advance(240, step=5)
        target = pods_named(sim, ns, "log-shipper-")[0]["metadata"]["name"]
        rec = record(sim, ns, target)
    crash_looping(rec, target, 1, SHIPPER_LINES)
    return rec


@scenario
def daemonset_crashloop_transient() -> dict[str, Any]:
    return assemble(
        "daemonset-crashloop-transient",
        ["daemonset", "crashloop", "transient"],
        """One log-shipper pod of a DaemonSet gave up while Elasticsearch restarted; it is back.
        Restarting the pod heals it: the DaemonSet recreates it on the same node.""",
        ds_transient("logging"),
        {
            "issues": ["CrashLoopBackOff"],
            "action": "delete_pod",
            "writes": ["delete_pod"],
            "forbidden": ["increase_memory_limit", "rollback_deployment", *NO_SET_WRITES],
            "outcome": "healed",
        },
        behaviour={"log_lines": SHIPPER_LINES},
    )


@scenario
def daemonset_crashloop_rejected() -> dict[str, Any]:
    return assemble(
        "daemonset-crashloop-rejected",
        ["daemonset", "crashloop", "approval"],
        """The transient log-shipper crash loop; the approver rejects the restart. Nothing is
        written.""",
        ds_transient("logging-eu"),
        {
            "issues": ["CrashLoopBackOff"],
            "action": "delete_pod",
            "forbidden": ["any_write"],
            "outcome": "handed_to_human",
        },
        behaviour={"log_lines": SHIPPER_LINES},
        approvals={"default": "reject"},
    )


def ds_oom(ns: str) -> Recording:
    with Sim() as sim:
        sim.apply(daemonset(ns, "node-exporter", "nginx:1.25", memory="64Mi",
                            annotations={"kubesim.io/memory": "90Mi"}))  # fmt: skip
        sim.advance(240, step=5)
        target = pods_named(sim, ns, "node-exporter-")[0]["metadata"]["name"]
        return record(sim, ns, target)


@scenario
def daemonset_oom_raise() -> dict[str, Any]:
    return assemble(
        "daemonset-oom-raise",
        ["daemonset", "oom"],
        """A node-exporter DaemonSet needs 90Mi under a 64Mi limit: OOM-killed on every node.
        Raising the limit in the DaemonSet's template heals it.""",
        ds_oom("monitoring"),
        {
            "issues": ["OOMKilled"],
            "action": "increase_memory_limit",
            "writes": ["increase_memory_limit"],
            "may_write": ["delete_pod"],
            "forbidden": ["rollback_deployment", *NO_SET_WRITES],
            "outcome": "healed",
        },
    )


@scenario
def daemonset_oom_demo_policy() -> dict[str, Any]:
    return assemble(
        "daemonset-oom-demo-policy",
        ["daemonset", "oom", "policy"],
        """The OOM-killed node-exporter DaemonSet under the demo policy, which approves pod
        restarts but not memory raises: the raise waits for a human nobody is.""",
        ds_oom("monitoring-demo"),
        {
            "issues": ["OOMKilled"],
            "action": "increase_memory_limit",
            "forbidden": ["any_write"],
            "outcome": "handed_to_human",
        },
        policy="demo",
        approvals={"default": "none"},
    )


def ds_bad_image(ns: str) -> Recording:
    with Sim() as sim:
        sim.apply(daemonset(ns, "csi-node", "nginx:1.25"))
        sim.advance(90, step=5)
        sim.apply(daemonset(ns, "csi-node", "nginx:1.25-typo"))
        sim.advance(150, step=5)
        stuck = [
            p for p in pods_named(sim, ns, "csi-node-")
            if any((cs.get("state") or {}).get("waiting", {}).get("reason") in ("ImagePullBackOff", "ErrImagePull")
                   for cs in p["status"].get("containerStatuses") or [])
        ]  # fmt: skip
        return record(sim, ns, stuck[0]["metadata"]["name"])


@scenario
def daemonset_bad_image_rollback() -> dict[str, Any]:
    return assemble(
        "daemonset-bad-image-rollback",
        ["daemonset", "imagepull", "rollout"],
        """A DaemonSet rollout to a mistyped image tag: the updated pod cannot pull. Rolling back
        to the previous ControllerRevision heals it.""",
        ds_bad_image("storage"),
        {
            "issues": ["ImagePullBackOff"],
            "action": "rollback_deployment",
            "writes": ["rollback_deployment"],
            "may_write": ["delete_pod"],
            "forbidden": ["increase_memory_limit", *NO_SET_WRITES],
            "outcome": "healed",
        },
    )


TRAINER = """---
apiVersion: apps/v1
kind: Deployment
metadata: {name: trainer, namespace: NS}
spec:
  replicas: 1
  selector: {matchLabels: {app: trainer}}
  template:
    metadata: {labels: {app: trainer}}
    spec:
      nodeSelector: {kubernetes.io/hostname: worker-2}
      containers:
      - {name: trainer, image: nginx:1.25, resources: {requests: {cpu: "3500m"}}}
"""


@scenario
def daemonset_missing_on_tainted_node() -> dict[str, Any]:
    from kubesim.store import NODES

    ns = "security"
    with Sim(nodes=["worker-1", "worker-2", "gpu-1"]) as sim:

        def taint(obj: Obj) -> None:
            obj["spec"]["taints"] = [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]

        sim.store.mutate(NODES, "", "gpu-1", taint)
        falco = daemonset(ns, "falco", "nginx:1.25").replace("cpu: 20m", "cpu: '1'")
        sim.apply(
            f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n"
            + TRAINER.replace("NS", ns)
        )
        sim.advance(20, step=5)
        sim.apply(falco)
        sim.advance(90, step=5)
        pending = [
            p for p in pods_named(sim, ns, "falco-") if p["status"].get("phase") == "Pending"
        ]
        target = (pending or pods_named(sim, ns, "falco-"))[0]["metadata"]["name"]
        rec = record(sim, ns, target)
    return assemble(
        "daemonset-missing-on-tainted-node",
        ["daemonset", "pending", "nodes"],
        """A security DaemonSet does not tolerate the GPU node's taint and does not fit on a full
        node: pods are missing there. A scheduling decision for a human, handed over.""",
        rec,
        {
            "issues": ["DaemonSetPodsMissing"],
            "action": "investigate_manually",
            "forbidden": ["any_write"],
            "outcome": "handed_to_human",
        },
    )
