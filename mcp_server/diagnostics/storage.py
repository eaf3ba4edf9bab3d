"""PersistentVolumeClaims a Pending pod waits for: phase, class, provisioner, and the
persistentvolume-controller's events (FailedBinding, ProvisioningFailed, ExternalProvisioning).
Pure; the server never touches claims: the advice names what a human may run."""

from __future__ import annotations

import re
from collections.abc import Sequence

from policies.diagnosis import ClaimInfo, Issue, IssueType

from ..redaction import redact
from ._obj import Obj, clip, lst, m, s

UNBOUND = "unbound immediate persistentvolumeclaims"
_NOT_FOUND = re.compile(r'persistentvolumeclaim "([^"]+)" not found', re.IGNORECASE)
_CLASS_NOT_FOUND = re.compile(r'storageclass\.storage\.k8s\.io "([^"]+)" not found')
PROVISIONER_ANNOTATIONS = (
    "volume.kubernetes.io/storage-provisioner",
    "volume.beta.kubernetes.io/storage-provisioner",
)


def claim_names(pod: Obj) -> list[str]:
    """The claims the pod mounts: `persistentVolumeClaim` volumes and generic ephemeral ones
    (`<pod>-<volume>`)."""
    pod_name = s(pod, "metadata", "name") or ""
    names: list[str] = []
    for volume in lst(pod, "spec", "volumes"):
        claim = s(volume, "persistentVolumeClaim", "claimName")
        if claim:
            names.append(claim)
        elif m(volume, "ephemeral"):
            names.append(f"{pod_name}-{s(volume, 'name') or ''}")
    return names


def unschedulable_message(pod: Obj) -> str:
    for cond in lst(pod, "status", "conditions"):
        if s(cond, "type") == "PodScheduled" and s(cond, "status") == "False":
            return s(cond, "message") or ""
    return ""


def waits_for_claim(pod: Obj, events: Sequence[Obj] = ()) -> bool:
    """The scheduler holds the pod for a claim: unbound, or not found."""
    if s(pod, "status", "phase") != "Pending" or not claim_names(pod):
        return False
    texts = [unschedulable_message(pod)] + [
        s(e, "message") or "" for e in events if s(e, "reason") == "FailedScheduling"
    ]
    return any(UNBOUND in t.lower() or _NOT_FOUND.search(t) for t in texts)


def _claim_info(obj: Obj, claim_events: Sequence[Obj]) -> ClaimInfo:
    """One claim's facts with the volume controller's last distinct events about it."""
    name = s(obj, "metadata", "name") or ""
    annotations = m(obj, "metadata", "annotations")
    provisioner = next(
        (str(annotations[k]) for k in PROVISIONER_ANNOTATIONS if annotations.get(k)), None
    )
    own = [
        e
        for e in claim_events
        if s(e, "involvedObject", "name") == name
        and s(e, "involvedObject", "kind") == "PersistentVolumeClaim"
    ]
    own.sort(key=lambda e: s(e, "lastTimestamp") or s(e, "eventTime") or "")
    texts: list[str] = []
    for event in own[-5:]:
        text = clip(redact(f"{s(event, 'reason')}: {s(event, 'message') or ''}"), 300)
        if text not in texts:
            texts.append(text)
    return ClaimInfo(
        name=name,
        phase=s(obj, "status", "phase"),
        storage_class=s(obj, "spec", "storageClassName"),
        provisioner=provisioner,
        requested=s(obj, "spec", "resources", "requests", "storage"),
        events=texts,
    )


def _unread_claims_findings(pod: Obj, namespace: str) -> tuple[list[Issue], list[str]]:
    # The claims were not read (budget, RBAC): the scheduler's word is the evidence.
    names = claim_names(pod)
    issue = Issue(
        severity="critical",
        type=IssueType.PVC_PENDING,
        message=clip(
            f"pod waits for claim(s) {', '.join(names)}: {unschedulable_message(pod)}",
            500,
        ),
    )
    return [issue], [f"kubectl describe pvc {names[0]} -n {namespace}"]


def _pending_claim_issue(claim: ClaimInfo) -> Issue:
    cause = claim.events[-1] if claim.events else "no events from the volume controller"
    return Issue(
        severity="critical",
        type=IssueType.PVC_PENDING,
        reason=claim.phase,
        message=clip(
            f"claim {claim.name} is {claim.phase or 'unknown'} (storageClass "
            f"{claim.storage_class or 'none'}, provisioner "
            f"{claim.provisioner or 'none'}, {claim.requested or '?'}): {cause}",
            500,
        ),
    )


def _pending_claim_advice(claim: ClaimInfo, namespace: str) -> list[str]:
    """What a human may run for one unbound claim, from the most specific cause known."""
    advice = [f"kubectl describe pvc {claim.name} -n {namespace}"]
    missing_class = next(
        (match.group(1) for e in claim.events if (match := _CLASS_NOT_FOUND.search(e))),
        None,
    )
    if claim.phase == "NotFound":
        advice.append(f"Create the claim {claim.name} or fix the pod's volume reference")
    elif missing_class:
        advice.append(
            f"StorageClass {missing_class} does not exist: create it (kubectl apply -f "
            f"<storageclass {missing_class}>.yaml) or point the claim at an existing one "
            "(kubectl get storageclass)"
        )
    elif claim.storage_class is None or claim.storage_class == "":
        advice.append(
            "The claim names no StorageClass and no PersistentVolume fits it: create a "
            "matching PersistentVolume or a default StorageClass (kubectl get storageclass)"
        )
    elif claim.provisioner:
        advice.append(
            f"Check that the provisioner {claim.provisioner} runs and can create "
            f"volumes of class {claim.storage_class}"
        )
    return advice


def claim_findings(
    pod: Obj,
    claims: Sequence[Obj],
    claim_events: Sequence[Obj] = (),
    *,
    missing: Sequence[str] = (),
    pod_events: Sequence[Obj] = (),
) -> tuple[list[ClaimInfo], list[Issue], list[str]]:
    """`PVCPending` for a pod the scheduler holds on a claim, with each claim's evidence."""
    if not waits_for_claim(pod, pod_events):
        return [], [], []
    namespace = s(pod, "metadata", "namespace") or ""
    infos = [_claim_info(obj, claim_events) for obj in claims]
    infos += [ClaimInfo(name=name, phase="NotFound") for name in missing]
    pending = [c for c in infos if c.phase != "Bound"] or infos
    if not pending:
        issues, advice = _unread_claims_findings(pod, namespace)
        return infos, issues, advice
    issues = [_pending_claim_issue(claim) for claim in pending]
    advice = [line for claim in pending for line in _pending_claim_advice(claim, namespace)]
    advice.append("The server never changes claims or volumes: these are a human's to run")
    return infos, issues, advice
