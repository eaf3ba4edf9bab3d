"""The kubelet: probes, config errors, pulls, logs, usage, restart policies, deletion, loading."""

from __future__ import annotations

from typing import Any

from kubesim.store import POD_METRICS, PODS, STORAGECLASSES, Obj
from tests.unit.kubesim.harness import (
    Cluster,
    container_status,
    deployment_manifest,
    pod_manifest,
    waiting_reason,
)


def _probe(path: str = "/healthz", **extra: Any) -> Obj:
    return {"httpGet": {"path": path, "port": 8080}, "periodSeconds": 10, **extra}


def _with_annotations(manifest: Obj, **annotations: str) -> Obj:
    manifest["metadata"]["annotations"] = {
        f"kubesim.io/{k.replace('_', '-')}": v for k, v in annotations.items()
    }
    return manifest


def test_failing_liveness_probe_kills_and_restarts_the_container(cluster: Cluster) -> None:
    manifest = pod_manifest(
        "live", {"name": "app", "image": "nginx:1.25", "livenessProbe": _probe()}
    )
    cluster.create(_with_annotations(manifest, liveness="fail-after=30s"))
    cluster.advance(70)
    status = container_status(cluster.pod("live"))
    assert status["restartCount"] == 1
    assert status["lastState"]["terminated"]["exitCode"] == 137
    [unhealthy] = cluster.events("live", "Unhealthy")
    assert unhealthy["message"] == "Liveness probe failed: HTTP probe failed with statuscode: 500"
    assert (
        unhealthy["count"] == 3
        and unhealthy["involvedObject"]["fieldPath"] == "spec.containers{app}"
    )
    killing = [e["message"] for e in cluster.events("live", "Killing")]
    assert killing == ["Container app failed liveness probe, will be restarted"]


def test_failing_readiness_probe_leaves_the_pod_running_but_not_ready(cluster: Cluster) -> None:
    manifest = pod_manifest(
        "unready", {"name": "app", "image": "nginx:1.25", "readinessProbe": _probe()}
    )
    cluster.create(_with_annotations(manifest, readiness="fail"))
    cluster.advance(60)
    pod = cluster.pod("unready")
    assert pod["status"]["phase"] == "Running"
    status = container_status(pod)
    assert "running" in status["state"] and status["ready"] is False and status["restartCount"] == 0
    [unhealthy] = cluster.events("unready", "Unhealthy")
    assert unhealthy["message"] == "Readiness probe failed: HTTP probe failed with statuscode: 503"
    assert unhealthy["count"] >= 5


def test_readiness_probe_passes_after_its_initial_delay(cluster: Cluster) -> None:
    probe = _probe(initialDelaySeconds=15)
    cluster.create(
        pod_manifest("slow", {"name": "app", "image": "nginx:1.25", "readinessProbe": probe})
    )
    cluster.advance(10)
    assert container_status(cluster.pod("slow"))["ready"] is False
    cluster.advance(20)
    pod = cluster.pod("slow")
    assert container_status(pod)["ready"] is True
    assert {c["type"]: c["status"] for c in pod["status"]["conditions"]} == {
        "Initialized": "True",
        "Ready": "True",
        "ContainersReady": "True",
        "PodScheduled": "True",
    }


def test_missing_configmap_in_env_is_a_create_container_config_error(cluster: Cluster) -> None:
    env = [
        {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "app-config", "key": "mode"}}}
    ]
    cluster.create(pod_manifest("cfg", {"name": "app", "image": "nginx:1.25", "env": env}))
    cluster.advance(20)
    pod = cluster.pod("cfg")
    assert pod["status"]["phase"] == "Pending"
    assert waiting_reason(pod) == "CreateContainerConfigError"
    assert (
        container_status(pod)["state"]["waiting"]["message"] == 'configmap "app-config" not found'
    )
    assert 'Error: configmap "app-config" not found' in [
        e["message"] for e in cluster.events("cfg", "Failed")
    ]
    cluster.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "app-config"},
            "data": {"other": "x"},
        }
    )
    cluster.advance(15)
    message = container_status(cluster.pod("cfg"))["state"]["waiting"]["message"]
    assert message == "couldn't find key mode in ConfigMap default/app-config"

    def add_key(cm: Obj) -> None:
        cm["data"]["mode"] = "fast"

    cluster.update("ConfigMap", "app-config", add_key)
    cluster.advance(15)
    assert "running" in container_status(cluster.pod("cfg"))["state"]


def test_missing_secret_volume_keeps_the_pod_creating_with_failed_mount(cluster: Cluster) -> None:
    volumes = [{"name": "creds", "secret": {"secretName": "db-creds"}}]
    cluster.create(pod_manifest("mount", {"name": "app", "image": "nginx:1.25"}, volumes=volumes))
    cluster.advance(30)
    pod = cluster.pod("mount")
    assert waiting_reason(pod) == "ContainerCreating" and pod["status"]["phase"] == "Pending"
    [event] = cluster.events("mount", "FailedMount")
    assert (
        event["message"]
        == 'MountVolume.SetUp failed for volume "creds" : secret "db-creds" not found'
    )
    cluster.create(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db-creds"}, "data": {}}
    )
    cluster.advance(10)
    assert cluster.pod("mount")["status"]["phase"] == "Running"


def test_private_registry_without_pull_secret_is_unauthorized(cluster: Cluster) -> None:
    image = "registry.example.com/shop/checkout:1.4.2"
    cluster.create(pod_manifest("private", {"name": "app", "image": image}))
    cluster.advance(5)
    messages = [e["message"] for e in cluster.events("private", "Failed")]
    assert any("401 Unauthorized" in m and "failed to authorize" in m for m in messages)
    cluster.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "regcred"},
            "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": "e30="},
        }
    )
    cluster.create(
        pod_manifest(
            "private-ok", {"name": "app", "image": image}, imagePullSecrets=[{"name": "regcred"}]
        )
    )
    cluster.advance(10)
    assert "running" in container_status(cluster.pod("private-ok"))["state"]


def test_unknown_docker_hub_repository_is_pull_access_denied(cluster: Cluster) -> None:
    cluster.create(pod_manifest("nope", {"name": "app", "image": "someone/not-a-real-image:1.0"}))
    cluster.advance(5)
    messages = [e["message"] for e in cluster.events("nope", "Failed")]
    assert any(
        "pull access denied, repository does not exist or may require authorization" in m
        for m in messages
    )


def test_shell_loop_logs_on_schedule_and_previous_logs_survive_a_restart(cluster: Cluster) -> None:
    script = 'echo starting; i=0; while true; do echo "tick $(date)"; sleep 5; done'
    cluster.create(
        pod_manifest(
            "ticker", {"name": "app", "image": "busybox:1.36", "command": ["sh", "-c", script]}
        )
    )
    cluster.advance(32)
    lines = [text for _, text in cluster.logs.read("default", "ticker", "app") or []]
    assert lines[0] == "starting"
    ticks = [line for line in lines if line.startswith("tick ")]
    assert 5 <= len(ticks) <= 7
    assert ticks[0].endswith("UTC 2026")

    crasher = pod_manifest(
        "crasher",
        {
            "name": "app",
            "image": "busybox:1.36",
            "command": ["sh", "-c", "echo working; sleep 5; echo fatal >&2; exit 2"],
        },
    )
    cluster.create(crasher)
    cluster.advance(20)
    previous = [
        text for _, text in cluster.logs.read("default", "crasher", "app", previous=True) or []
    ]
    assert previous == ["working"]
    assert container_status(cluster.pod("crasher"))["lastState"]["terminated"]["exitCode"] == 2


def test_log_script_and_crash_annotations_replay_a_recorded_failure(cluster: Cluster) -> None:
    manifest = pod_manifest("api", {"name": "app", "image": "nginx:1.25"})
    _with_annotations(
        manifest,
        log_startup="INFO starting api\nINFO connecting to db",
        log_lines="ERROR Failed to connect to database: connection refused",
        log_interval="2s",
        log_exit="FATAL giving up",
        crash_after="7s",
        exit_code="3",
    )
    cluster.create(manifest)
    cluster.advance(60)
    status = container_status(cluster.pod("api"))
    assert status["lastState"]["terminated"]["exitCode"] == 3
    previous = [text for _, text in cluster.logs.read("default", "api", "app", previous=True) or []]
    assert previous[:2] == ["INFO starting api", "INFO connecting to db"]
    # Batches at 0, 2, 4 and 6 s; the crash comes at 7 s.
    assert previous.count("ERROR Failed to connect to database: connection refused") == 4
    assert previous[-1] == "FATAL giving up"


def test_behaviour_follows_the_image_tag(cluster: Cluster) -> None:
    manifest = deployment_manifest(
        "shop",
        "nginx:1.25",
        replicas=1,
        annotations={"kubesim.io/when-image": "*:1.26", "kubesim.io/crash-after": "5s"},
    )
    cluster.create(manifest)
    cluster.advance(60)
    [pod] = cluster.pods("shop-")
    assert container_status(pod)["restartCount"] == 0

    def bad(d: Obj) -> None:
        d["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.26"

    cluster.update("Deployment", "shop", bad)
    cluster.advance(60)
    crashing = [
        p for p in cluster.pods("shop-") if p["spec"]["containers"][0]["image"] == "nginx:1.26"
    ]
    assert crashing and container_status(crashing[0])["restartCount"] >= 2


def test_memory_leak_under_a_limit_ends_in_oom_kill(cluster: Cluster) -> None:
    container = {"name": "app", "image": "nginx:1.25", "resources": {"limits": {"memory": "64Mi"}}}
    manifest = _with_annotations(
        pod_manifest("leaky", container), memory="32Mi", memory_growth="8Mi/min"
    )
    cluster.create(manifest)
    cluster.advance(200, step=5)
    assert container_status(cluster.pod("leaky"))["restartCount"] == 0
    metrics = cluster.store.get(POD_METRICS, "default", "leaky")
    used_ki = int(metrics["containers"][0]["usage"]["memory"].removesuffix("Ki"))
    assert 55 * 1024 <= used_ki <= 64 * 1024
    cluster.advance(60, step=5)
    last = container_status(cluster.pod("leaky"))["lastState"]["terminated"]
    assert last["reason"] == "OOMKilled" and last["exitCode"] == 137


def test_pod_metrics_follow_the_running_pod(cluster: Cluster) -> None:
    manifest = _with_annotations(
        pod_manifest("busy", {"name": "app", "image": "nginx:1.25"}), cpu="250m", memory="120Mi"
    )
    cluster.create(manifest)
    cluster.advance(20)
    metrics = cluster.store.get(POD_METRICS, "default", "busy")
    usage = metrics["containers"][0]["usage"]
    assert 240e6 <= int(usage["cpu"].removesuffix("n")) <= 260e6
    assert 115 * 1024 <= int(usage["memory"].removesuffix("Ki")) <= 125 * 1024
    cluster.delete_pod("busy")
    assert cluster.store.find(POD_METRICS, "default", "busy") is None


def test_restart_policies_decide_the_phase(cluster: Cluster) -> None:
    cluster.create(
        pod_manifest(
            "fails",
            {"name": "app", "image": "busybox", "command": ["false"]},
            restartPolicy="Never",
        )
    )
    cluster.create(
        pod_manifest(
            "done",
            {"name": "app", "image": "busybox", "command": ["true"]},
            restartPolicy="OnFailure",
        )
    )
    cluster.create(
        pod_manifest(
            "sleeper", {"name": "app", "image": "busybox", "command": ["sh", "-c", "sleep 20"]}
        )
    )
    cluster.advance(30)
    assert cluster.pod("fails")["status"]["phase"] == "Failed"
    assert container_status(cluster.pod("fails"))["state"]["terminated"]["exitCode"] == 1
    assert cluster.pod("done")["status"]["phase"] == "Succeeded"
    sleeper = container_status(cluster.pod("sleeper"))
    assert (
        sleeper["restartCount"] == 1 and sleeper["lastState"]["terminated"]["reason"] == "Completed"
    )


def test_graceful_deletion_waits_for_a_container_that_ignores_sigterm(cluster: Cluster) -> None:
    cluster.create(pod_manifest("quick", {"name": "app", "image": "nginx:1.25"}))
    stubborn = _with_annotations(
        pod_manifest("stubborn", {"name": "app", "image": "nginx:1.25"}), ignore_sigterm="true"
    )
    cluster.create(stubborn)
    cluster.advance(10)
    cluster.delete_pod("quick")
    cluster.delete_pod("stubborn")
    assert cluster.store.find(PODS, "default", "quick") is None
    assert cluster.store.find(PODS, "default", "stubborn") is not None
    assert [e["message"] for e in cluster.events("stubborn", "Killing")] == [
        "Stopping container app"
    ]
    cluster.advance(31)
    assert cluster.store.find(PODS, "default", "stubborn") is None


def test_a_loaded_crash_looping_pod_keeps_its_count_and_back_off(cluster: Cluster) -> None:
    stamp = cluster.clock.rfc3339
    now = cluster.clock.seconds()
    pod = pod_manifest(
        "recorded", {"name": "app", "image": "busybox:1.36", "command": ["sh", "-c", "exit 1"]}
    )
    pod["metadata"]["uid"] = "0f6b6a2c-1111-4222-8333-944455556666"
    pod["spec"]["nodeName"] = "kubesim-node-1"
    message = (
        "back-off 5m0s restarting failed container=app "
        "pod=recorded_default(0f6b6a2c-1111-4222-8333-944455556666)"
    )
    pod["status"] = {
        "phase": "Running",
        "podIP": "10.244.1.9",
        "startTime": stamp(now - 3600),
        "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": stamp(now - 3600)}
        ],
        "containerStatuses": [
            {
                "name": "app",
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": message}},
                "lastState": {
                    "terminated": {
                        "exitCode": 1,
                        "reason": "Error",
                        "startedAt": stamp(now - 60),
                        "finishedAt": stamp(now - 60),
                        "containerID": "containerd://abc",
                    }
                },
                "ready": False,
                "restartCount": 7,
                "image": "docker.io/library/busybox:1.36",
                "imageID": "docker.io/library/busybox@sha256:0123",
                "containerID": "containerd://abc",
                "started": False,
            }
        ],
    }
    cluster.store.create(PODS, pod, keep_metadata=True)
    cluster.settle()
    status = container_status(cluster.pod("recorded"))
    assert (
        status["restartCount"] == 7 and status["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    )
    cluster.advance(230, step=10)
    assert container_status(cluster.pod("recorded"))["restartCount"] == 7  # 5 min back-off holds
    cluster.advance(20, step=10)
    status = container_status(cluster.pod("recorded"))
    assert status["restartCount"] == 8
    assert status["state"]["waiting"]["message"].startswith("back-off 5m0s")


def test_node_selector_and_taints_explain_why_nothing_fits() -> None:
    cluster = Cluster()

    def taint(node: Obj) -> None:
        node["spec"]["taints"] = [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]

    from kubesim.store import NODES

    cluster.store.mutate(NODES, "", "kubesim-node-2", taint)
    cluster.create(
        pod_manifest("picky", {"name": "app", "image": "nginx:1.25"}, nodeSelector={"disk": "ssd"})
    )
    [event] = cluster.events("picky", "FailedScheduling")
    assert event["message"] == (
        "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
        "1 node(s) had untolerated taint {dedicated: gpu}. preemption: 0/2 nodes are available: "
        "2 Preemption is not helpful for scheduling.."
    )


def test_unbound_claim_keeps_the_pod_pending(cluster: Cluster) -> None:
    volumes = [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
    cluster.create(pod_manifest("db", {"name": "app", "image": "redis:7.2"}, volumes=volumes))
    [event] = cluster.events("db", "FailedScheduling")
    assert event["message"] == (
        '0/2 nodes are available: persistentvolumeclaim "data" not found. '
        "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.."
    )
    cluster.create(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        }
    )
    cluster.advance(30)
    assert cluster.pod("db")["status"]["phase"] == "Pending"  # no StorageClass: nothing binds it
    [failed] = cluster.events("data", "FailedBinding")
    assert failed["message"] == (
        "no persistent volumes available for this claim and no storage class is set"
    )
    cluster.store.create(
        STORAGECLASSES,
        {
            "metadata": {
                "name": "standard",
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": "rancher.io/local-path",
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "WaitForFirstConsumer",
        },
    )
    cluster.advance(10)
    assert cluster.pod("db")["status"]["phase"] == "Running"


def test_a_leak_without_a_limit_gets_the_pod_evicted_and_replaced() -> None:
    from kubesim.store import NODES

    cluster = Cluster(nodes=1)
    manifest = deployment_manifest(
        "leaky",
        "nginx:1.25",
        replicas=1,
        annotations={"kubesim.io/memory": "7Gi", "kubesim.io/memory-growth": "20Mi/s"},
    )
    manifest["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "requests": {"memory": "128Mi"}
    }
    cluster.create(manifest)
    cluster.advance(120, step=2)
    evicted = [p for p in cluster.pods("leaky-") if p["status"].get("reason") == "Evicted"]
    assert evicted, "the leaking pod should have been evicted"
    pod = evicted[0]
    assert pod["status"]["phase"] == "Failed"
    assert pod["status"]["message"].startswith(
        "The node was low on resource: memory. Threshold quantity: 100Mi, available: "
    )
    assert "Container app was using " in pod["status"]["message"]
    assert "request is 128Mi, has larger consumption of memory." in pod["status"]["message"]
    [event] = cluster.events(pod["metadata"]["name"], "Evicted")
    assert event["type"] == "Warning"
    node = cluster.store.get(NODES, "", "kubesim-node-1")
    assert any(c["type"] == "MemoryPressure" for c in node["status"]["conditions"])
    # The ReplicaSet replaced it: one active pod besides the evicted one(s).
    active = [p for p in cluster.pods("leaky-") if p["status"].get("phase") != "Failed"]
    assert len(active) == 1


def test_init_containers_run_first_and_a_failing_one_blocks_the_pod(cluster: Cluster) -> None:
    init = [
        {
            "name": "wait-db",
            "image": "busybox:1.36",
            "command": ["sh", "-c", "echo waiting; sleep 5"],
        },
        {"name": "migrate", "image": "busybox:1.36", "command": ["sh", "-c", "echo migrated"]},
    ]
    cluster.create(
        pod_manifest("with-init", {"name": "app", "image": "nginx:1.25"}, initContainers=init)
    )
    cluster.advance(3)
    pod = cluster.pod("with-init")
    assert pod["status"]["phase"] == "Pending"
    initialized = next(c for c in pod["status"]["conditions"] if c["type"] == "Initialized")
    assert initialized["status"] == "False" and initialized["reason"] == "ContainersNotInitialized"
    assert waiting_reason(pod) == "PodInitializing"
    cluster.advance(20)
    pod = cluster.pod("with-init")
    assert pod["status"]["phase"] == "Running"
    states = [s["state"] for s in pod["status"]["initContainerStatuses"]]
    assert [s["terminated"]["reason"] for s in states] == ["Completed", "Completed"]
    init_logs = cluster.logs.read("default", "with-init", "wait-db")
    assert init_logs is not None and init_logs[0][1] == "waiting"

    broken = [{"name": "migrate", "image": "busybox:1.36", "command": ["sh", "-c", "exit 2"]}]
    cluster.create(
        pod_manifest("bad-init", {"name": "app", "image": "nginx:1.25"}, initContainers=broken)
    )
    cluster.advance(60)
    pod = cluster.pod("bad-init")
    assert pod["status"]["phase"] == "Pending"
    [status] = pod["status"]["initContainerStatuses"]
    assert (
        status["state"]["waiting"]["reason"] == "CrashLoopBackOff" and status["restartCount"] >= 2
    )
    assert status["lastState"]["terminated"]["exitCode"] == 2
    assert waiting_reason(pod) == "PodInitializing"
    assert [e["involvedObject"]["fieldPath"] for e in cluster.events("bad-init", "BackOff")] == [
        "spec.initContainers{migrate}"
    ]
    cluster.create(
        pod_manifest(
            "never-init",
            {"name": "app", "image": "nginx:1.25"},
            initContainers=broken,
            restartPolicy="Never",
        )
    )
    cluster.advance(10)
    assert cluster.pod("never-init")["status"]["phase"] == "Failed"


def test_startup_probe_gates_readiness_and_a_failing_one_restarts_the_container(
    cluster: Cluster,
) -> None:
    startup = {
        "httpGet": {"path": "/started", "port": 80},
        "periodSeconds": 5,
        "failureThreshold": 4,
    }
    slow = pod_manifest(
        "slow-start", {"name": "app", "image": "nginx:1.25", "startupProbe": startup}
    )
    cluster.create(_with_annotations(slow, startup="ready-after=20s"))
    cluster.advance(10)
    status = container_status(cluster.pod("slow-start"))
    assert status["started"] is False and status["ready"] is False
    cluster.advance(20)
    status = container_status(cluster.pod("slow-start"))
    assert status["started"] is True and status["ready"] is True

    stuck = pod_manifest("stuck", {"name": "app", "image": "nginx:1.25", "startupProbe": startup})
    cluster.create(_with_annotations(stuck, startup="fail"))
    cluster.advance(30)
    status = container_status(cluster.pod("stuck"))
    assert status["restartCount"] == 1
    [unhealthy] = cluster.events("stuck", "Unhealthy")
    assert unhealthy["message"] == "Startup probe failed: HTTP probe failed with statuscode: 503"
    assert [e["message"] for e in cluster.events("stuck", "Killing")] == [
        "Container app failed startup probe, will be restarted"
    ]


def test_an_unparseable_image_reference_is_invalid_image_name(cluster: Cluster) -> None:
    image = "Registry.example.com/Shop/Search:2.0"
    cluster.create(pod_manifest("bad-name", {"name": "app", "image": image}))
    cluster.advance(40)
    pod = cluster.pod("bad-name")
    assert pod["status"]["phase"] == "Pending" and waiting_reason(pod) == "InvalidImageName"
    error = (
        f'couldn\'t parse image reference "{image}": invalid reference format: '
        "repository name must be lowercase"
    )
    assert container_status(pod)["state"]["waiting"]["message"] == error
    [inspect] = cluster.events("bad-name", "InspectFailed")
    assert inspect["message"] == f'Failed to apply default image tag "{image}": {error}'
    assert inspect["count"] >= 2
    assert cluster.events("bad-name", "Pulling") == []
