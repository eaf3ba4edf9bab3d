"""What an SRE would do next, per issue type: short, imperative, safe to show anyone."""

from __future__ import annotations

from collections.abc import Iterable

from policies.diagnosis import Issue, IssueType

ADVICE: dict[str, tuple[str, ...]] = {
    IssueType.CRASH_LOOP: (
        "Read the previous container's logs (kubectl logs --previous) for the crash cause",
        "Delete the pod so its controller recreates it if the crash is transient",
        "Review recent configuration or image changes",
    ),
    IssueType.OOM_KILLED: (
        "Increase the container's memory limit on the owning workload",
        "Look for a memory leak or an unbounded cache in the application",
    ),
    IssueType.IMAGE_PULL_BACKOFF: (
        "Check that the image name and tag exist in the registry",
        "Check imagePullSecrets and registry credentials",
        "Roll back if the image changed in the latest rollout",
    ),
    IssueType.ERR_IMAGE_PULL: (
        "Check that the image name and tag exist in the registry",
        "Check imagePullSecrets and registry credentials",
    ),
    IssueType.INVALID_IMAGE_NAME: ("Fix the image reference (lowercase repository, valid tag)",),
    IssueType.PENDING: (
        "Compare the pod's requests with the nodes' allocatable resources",
        "Lower the requests, scale down other workloads, or add capacity",
    ),
    IssueType.UNBOUND_PVC: (
        "Check the PersistentVolumeClaim's status and its StorageClass provisioner",
    ),
    IssueType.CREATE_CONTAINER_CONFIG_ERROR: (
        "Create the missing ConfigMap/Secret or key, or fix the reference in the pod spec",
    ),
    IssueType.MISSING_CONFIG_REF: (
        "Create the missing ConfigMap/Secret/PVC or fix the reference in the pod spec",
    ),
    IssueType.LIVENESS_PROBE_FAILED: (
        "Check the liveness endpoint and its timings (initialDelaySeconds, timeoutSeconds)",
        "Consider a startupProbe for slow-starting applications",
    ),
    IssueType.READINESS_PROBE_FAILED: (
        "Check the readiness endpoint and the application's dependencies",
    ),
    IssueType.PROBE_MISCONFIGURED: ("Fix the probe configuration in the pod template",),
    IssueType.EVICTED: (
        "Delete the evicted pod (its controller has already replaced it)",
        "Check node pressure and the pod's requests (ephemeral storage, memory)",
    ),
    IssueType.HIGH_RESTART_COUNT: (
        "Read the previous container's logs for the cause of the earlier restarts",
    ),
    IssueType.CONTAINER_ERROR: (
        "Read the container's logs and its exit code for the cause",
        "Check the command, arguments and environment of the container",
    ),
    IssueType.HIGH_MEMORY_USAGE: ("Increase the memory limit before the container is OOM killed",),
    IssueType.HIGH_CPU_USAGE: ("Increase the CPU limit or request; the container is throttled",),
    IssueType.NO_RESOURCE_LIMITS: ("Set memory (and CPU) requests and limits on every container",),
    IssueType.LOG_ERRORS: ("Review the error lines in the logs",),
    IssueType.NOT_READY: ("Check the readiness probe and the application's startup",),
    IssueType.JOB_FAILED: (
        "Never delete a failed Job's pods to retry it: they hold the evidence, and a re-run "
        "repeats the Job's side effects; a human decides whether to run it again",
    ),
    IssueType.CRONJOB_FAILING: (
        "Compare the CronJob's schedule with lastScheduleTime and its last Jobs' outcomes",
    ),
    IssueType.STATEFULSET_ROLLOUT_STUCK: (
        "A StatefulSet rolls out one ordinal at a time: the stuck ordinal's own failure "
        "holds every later one",
    ),
    IssueType.DAEMONSET_PODS_MISSING: (
        "Compare the DaemonSet's tolerations and nodeSelector with the nodes' taints and labels",
    ),
    IssueType.SERVICE_NO_READY_ENDPOINTS: (
        "A Service without ready endpoints serves nothing: make its pods Ready or fix its selector",
    ),
    IssueType.PVC_PENDING: (
        "The pod cannot schedule until its PersistentVolumeClaim binds: check the claim's "
        "StorageClass and its provisioner (the server never changes claims)",
    ),
    IssueType.NODE_NOT_READY: (
        "The pod's node is not ready: its pods' status is stale; a human may cordon and "
        "drain the node (the server never touches nodes)",
    ),
}


def recommendations_for(issues: Iterable[Issue]) -> list[str]:
    """Advice for the given issues, most severe first, without duplicates."""
    order = {"critical": 0, "warning": 1, "info": 2}
    out: list[str] = []
    for issue in sorted(issues, key=lambda x: order.get(x.severity, 3)):
        for line in ADVICE.get(issue.type, ()):
            if line not in out:
                out.append(line)
    return out


def merge(*groups: Iterable[str]) -> list[str]:
    """Concatenate recommendation lists, keeping the first occurrence of each line."""
    out: list[str] = []
    for group in groups:
        for line in group:
            if line not in out:
                out.append(line)
    return out
