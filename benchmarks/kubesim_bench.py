"""kubesim at size: list 10,000 pods through the official client, and kubesim's memory.

The first figure includes the official client turning JSON into model objects, which is most
of it; the raw figures are what kubesim itself costs.

Pods are written straight into the store (shaped like running pods of a Deployment, defaults
filled in as the API server would), then listed over HTTPS the way a client does: one full
list, and pages of 500 as informers and kubectl do.
"""

from __future__ import annotations

import copy
import json
import resource
import time
import tracemalloc
from typing import Any

from kubernetes import client, config

from kubesim import KubeSim
from kubesim.api.defaults import apply_defaults
from kubesim.store import PODS

POD_COUNT = 10_000


def _pod(i: int) -> dict[str, Any]:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"web-5f7d8c9b4-{i:05d}",
            "namespace": "default",
            "labels": {"app": "web", "pod-template-hash": "5f7d8c9b4"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "web-5f7d8c9b4",
                    "uid": "00000000-0000-0000-0000-000000000001",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "nodeName": f"kubesim-node-{i % 2 + 1}",
            "containers": [
                {
                    "name": "nginx",
                    "image": "nginx:1.25",
                    "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}},
                }
            ],
        },
    }
    apply_defaults("Pod", pod)
    pod["status"] = {
        "phase": "Running",
        "qosClass": "Guaranteed",
        "podIP": f"10.244.{i // 250}.{i % 250}",
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
                "imageID": "docker.io/library/nginx@sha256:0",
                "containerID": f"containerd://{i:064x}",
                "state": {"running": {"startedAt": "2026-01-01T00:00:01Z"}},
                "lastState": {},
            }
        ],
    }
    return pod


def _rss_mib() -> float:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    with KubeSim() as sim:
        template = [_pod(i) for i in range(POD_COUNT)]
        rss_before = _rss_mib()
        tracemalloc.start()
        for pod in template:
            sim.store.create(PODS, copy.deepcopy(pod))
        store_bytes, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del template
        api = config.new_client_from_config(str(sim.kubeconfig_path))  # type: ignore[no-untyped-call]
        try:
            core: Any = client.CoreV1Api(api)  # raw responses (_preload_content) are untyped
            started = time.perf_counter()
            full = core.list_namespaced_pod("default")
            full_seconds = time.perf_counter() - started
            started = time.perf_counter()
            paged, token = 0, None
            while True:  # pages of 500 as informers and kubectl ask, without building models
                response = core.list_namespaced_pod(
                    "default", limit=500, _continue=token, _preload_content=False
                )
                page = json.loads(response.data)
                paged += len(page["items"])
                token = page["metadata"].get("continue")
                if not token:
                    break
            paged_seconds = time.perf_counter() - started
            started = time.perf_counter()
            raw = core.list_namespaced_pod("default", _preload_content=False)
            raw_bytes = len(raw.data)
            raw_seconds = time.perf_counter() - started
        finally:
            api.close()
        assert len(full.items) == POD_COUNT and paged == POD_COUNT
        print(f"kubesim: {POD_COUNT} pods")
        print(f"  list (one request, client deserialises): {full_seconds:.2f} s")
        print(f"  list (pages of 500, raw JSON):            {paged_seconds:.2f} s")
        print(f"  list (one request, raw JSON, {raw_bytes / 2**20:.1f} MiB): {raw_seconds:.2f} s")
        print(f"  store memory (tracemalloc):               {store_bytes / 2**20:.1f} MiB")
        print(
            f"  process RSS: {rss_before:.0f} MiB before the pods, {_rss_mib():.0f} MiB after listing"  # noqa: E501
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
