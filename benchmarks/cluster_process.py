"""A kubesim cluster with many pods, in its own process (so the API server does not share the
measured process's memory or interpreter lock), for the pod cache benchmark.

    python -m benchmarks.cluster_process PODS NAMESPACES

Prints `ready <kubeconfig path>` once the pods are in; then reads commands on stdin, one a
line, and answers each with a line:

    fail NAMESPACE NAME   the pod's image becomes unpullable and its container waits in
                          ErrImagePull (as the kubelet reports it); answers `failed <wall time>`
                          (time.time() just before the change is written)
    quit                  (or end of input) stop

Pods are shaped like the running pods of a Deployment as a real API server returns them:
defaults filled in, the service account token volume, probes, env, a few annotations and
managed fields.
"""

from __future__ import annotations

import copy
import sys
import time
from typing import Any

from kubesim import KubeSim
from kubesim.api.defaults import apply_defaults
from kubesim.store import NAMESPACES, PODS


def namespace_name(i: int) -> str:
    return f"team-{i:02d}"


def pod_name(namespace_index: int, i: int) -> str:
    return f"web-{namespace_index:02d}-5f7d8c9b4-{i:05d}"


def _pod(namespace: str, name: str, i: int) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app": "web", "pod-template-hash": "5f7d8c9b4", "tier": "frontend"},
            "annotations": {
                "prometheus.io/scrape": "true",
                "prometheus.io/port": "9090",
                "kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z",
                "checksum/config": f"{i:064x}",
            },
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "web-5f7d8c9b4",
                    "uid": f"00000000-0000-0000-0000-{hash(namespace) & 0xFFFFFFFFFFFF:012x}",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
            "managedFields": [
                {
                    "manager": "kube-controller-manager",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": "2026-01-01T00:00:00Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {
                        "f:metadata": {
                            "f:labels": {".": {}, "f:app": {}, "f:pod-template-hash": {}},
                            "f:ownerReferences": {".": {}, 'k:{"uid":"..."}': {}},
                        },
                        "f:spec": {"f:containers": {'k:{"name":"nginx"}': {".": {}}}},
                    },
                },
                {
                    "manager": "kubelet",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": "2026-01-01T00:00:01Z",
                    "fieldsType": "FieldsV1",
                    "subresource": "status",
                    "fieldsV1": {
                        "f:status": {
                            "f:conditions": {'k:{"type":"Ready"}': {".": {}, "f:status": {}}},
                            "f:containerStatuses": {},
                            "f:podIP": {},
                        }
                    },
                },
            ],
        },
        "spec": {
            "nodeName": f"kubesim-node-{i % 2 + 1}",
            "containers": [
                {
                    "name": "nginx",
                    "image": "nginx:1.25",
                    "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
                    "env": [
                        {"name": "LOG_LEVEL", "value": "info"},
                        {
                            "name": "POD_NAME",
                            "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                        },
                        {"name": "CACHE_URL", "value": "redis://cache.default.svc:6379/0"},
                    ],
                    "resources": {
                        "limits": {"cpu": "100m", "memory": "64Mi"},
                        "requests": {"cpu": "100m", "memory": "64Mi"},
                    },
                    "livenessProbe": {
                        "httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"},
                        "periodSeconds": 10,
                        "timeoutSeconds": 1,
                        "successThreshold": 1,
                        "failureThreshold": 3,
                    },
                    "readinessProbe": {
                        "httpGet": {"path": "/ready", "port": 8080, "scheme": "HTTP"},
                        "periodSeconds": 5,
                        "timeoutSeconds": 1,
                        "successThreshold": 1,
                        "failureThreshold": 3,
                    },
                }
            ],
        },
    }
    apply_defaults("Pod", pod)
    pod["status"] = {
        "phase": "Running",
        "qosClass": "Guaranteed",
        "hostIP": f"10.0.0.{i % 2 + 1}",
        "podIP": f"10.244.{i // 250 % 250}.{i % 250}",
        "podIPs": [{"ip": f"10.244.{i // 250 % 250}.{i % 250}"}],
        "startTime": "2026-01-01T00:00:00Z",
        "conditions": [
            {
                "type": t,
                "status": "True",
                "lastProbeTime": None,
                "lastTransitionTime": "2026-01-01T00:00:01Z",
            }
            for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
        ],
        "containerStatuses": [
            {
                "name": "nginx",
                "ready": True,
                "restartCount": 0,
                "started": True,
                "image": "docker.io/library/nginx:1.25",
                "imageID": "docker.io/library/nginx@sha256:" + "0" * 64,
                "containerID": f"containerd://{i:064x}",
                "state": {"running": {"startedAt": "2026-01-01T00:00:01Z"}},
                "lastState": {},
            }
        ],
    }
    return pod


def populate(sim: KubeSim, pods: int, namespaces: int) -> None:
    for n in range(namespaces):
        sim.store.create(
            NAMESPACES,
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": namespace_name(n)},
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            },
        )
    for i in range(pods):
        n = i % namespaces
        namespace = namespace_name(n)
        sim.store.create(PODS, _pod(namespace, pod_name(n, i // namespaces), i))


def fail(sim: KubeSim, namespace: str, name: str) -> float:
    def pull_error(pod: dict[str, Any]) -> None:
        pod["spec"]["containers"][0]["image"] = "nginx:9.99-no-such-tag"
        status = pod["status"]
        status["conditions"] = [
            {**c, "status": "False"} if c["type"] in ("Ready", "ContainersReady") else c
            for c in status["conditions"]
        ]
        container = copy.deepcopy(status["containerStatuses"][0])
        container.update(
            ready=False,
            started=False,
            image="nginx:9.99-no-such-tag",
            state={
                "waiting": {
                    "reason": "ErrImagePull",
                    "message": 'failed to pull and unpack image "docker.io/library/nginx:'
                    '9.99-no-such-tag": not found',
                }
            },
        )
        status["containerStatuses"] = [container]

    at = time.time()
    sim.store.mutate(PODS, namespace, name, pull_error)
    return at


def main(argv: list[str]) -> int:
    pods, namespaces = int(argv[0]), int(argv[1])
    with KubeSim() as sim:
        populate(sim, pods, namespaces)
        print(f"ready {sim.kubeconfig_path}", flush=True)
        for line in sys.stdin:
            words = line.split()
            if not words or words[0] == "quit":
                break
            if words[0] == "fail":
                print(f"failed {fail(sim, words[1], words[2]):.6f}", flush=True)
            else:
                print(f"unknown {words[0]}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
