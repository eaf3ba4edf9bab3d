"""The recorded StatefulSet `db` and DaemonSet `node-agent` (reference/kube-apiserver-1.28,
the "Additions"), and how the contract tests set them up: each with two revisions (nginx:1.25,
then nginx:1.26), as the recordings of `rollout history` and `rollout undo` were taken. The
claim template names no StorageClass here, so it binds through the cluster's default class
instead of the recorded hand-made `rk-local`."""

from __future__ import annotations

import copy
from typing import Any

from kubesim import KubeSim

STATEFULSET: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "StatefulSet",
    "metadata": {"name": "db", "namespace": "default"},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "db"}},
        "serviceName": "db",
        "template": {
            "metadata": {"labels": {"app": "db"}},
            "spec": {
                "containers": [
                    {
                        "image": "nginx:1.25",
                        "name": "nginx",
                        "ports": [{"containerPort": 80, "name": "http"}],
                        "volumeMounts": [{"mountPath": "/usr/share/nginx/html", "name": "data"}],
                    }
                ]
            },
        },
        "volumeClaimTemplates": [
            {
                "metadata": {"name": "data"},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            }
        ],
    },
}
DAEMONSET: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "DaemonSet",
    "metadata": {"name": "node-agent", "namespace": "default"},
    "spec": {
        "selector": {"matchLabels": {"app": "node-agent"}},
        "template": {
            "metadata": {"labels": {"app": "node-agent"}},
            "spec": {
                "containers": [{"image": "nginx:1.25", "name": "agent"}],
                "tolerations": [
                    {"effect": "NoSchedule", "key": "rk/drain-test", "operator": "Exists"}
                ],
            },
        },
    },
}
# The recordings that need a StatefulSet or a DaemonSet with a revision history.
STATEFULSET_RECORDINGS = {
    "get-statefulsets",
    "rollout-history-statefulset",
    "rollout-undo-statefulset",
}
DAEMONSET_RECORDINGS = {"rollout-history-daemonset", "rollout-undo-daemonset"}


def with_image(manifest: dict[str, Any], image: str) -> dict[str, Any]:
    changed = copy.deepcopy(manifest)
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = image
    return changed


def setup_apps(name: str, sim: KubeSim) -> None:
    """Two revisions of the recorded workload that recording `name` needs (nothing for others)."""
    manifest = (
        STATEFULSET
        if name in STATEFULSET_RECORDINGS
        else DAEMONSET
        if name in DAEMONSET_RECORDINGS
        else None
    )
    if manifest is None:
        return
    sim.apply(manifest)
    sim.advance(30, step=1)
    if name != "get-statefulsets":
        sim.apply(with_image(manifest, "nginx:1.26"))
        sim.advance(60, step=1)
