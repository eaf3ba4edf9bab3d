"""Configuration validity: references to objects that do not exist, missing limits, probe
mistakes, and the namespace's LimitRange ceiling.

Only clear mistakes become issues (the rule engine treats a misconfiguration as something a
restart cannot fix, so a doubtful finding must not block a remedy); softer concerns become
recommendations.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from policies.diagnosis import Issue, IssueType

from ._obj import Obj, i, lst, m, s
from .resources import memory_bytes

_KINDS = {
    "configmap": "ConfigMap",
    "configmaps": "ConfigMap",
    "secret": "Secret",
    "secrets": "Secret",
    "persistentvolumeclaim": "PersistentVolumeClaim",
    "persistentvolumeclaims": "PersistentVolumeClaim",
}
_NOT_FOUND = re.compile(
    r"\b(configmaps?|secrets?|persistentvolumeclaims?) \"([a-z0-9][a-z0-9.\-]{0,252})\" not found",
    re.I,
)
_KEY_MISSING = re.compile(
    r"couldn't find key (\S{1,253}) in (ConfigMap|Secret) [a-z0-9.\-]{1,63}/([a-z0-9.\-]{1,253})"
)


def missing_from_message(text: str) -> tuple[str, str, str | None] | None:
    """(kind, name, key) that a kubelet message says is missing, e.g. 'secret "db" not found'."""
    found = _NOT_FOUND.search(text)
    if found:
        return _KINDS[found.group(1).lower()], found.group(2), None
    key = _KEY_MISSING.search(text)
    if key:
        return key.group(2), key.group(3), key.group(1)
    return None


def missing_ref_issue(
    kind: str, name: str, *, container: str | None, where: str, key: str | None = None
) -> Issue:
    """The MissingConfigRef issue; `ref_kind`/`ref_name` (extra fields) identify the object."""
    what = f'key "{key}" of {kind} "{name}"' if key else f'{kind} "{name}"'
    return Issue.model_validate(
        {
            "severity": "critical",
            "type": IssueType.MISSING_CONFIG_REF,
            "container": container,
            "message": f"{what} ({where}) does not exist"[:500],
            "reason": f"Missing{kind}",
            "ref_kind": kind,
            "ref_name": name,
        }
    )


@dataclass(frozen=True)
class ConfigExistence:
    """Names that exist in the pod's namespace; None for a kind that was not listed (unknown)."""

    configmaps: frozenset[str] | None = None
    secrets: frozenset[str] | None = None
    pvcs: frozenset[str] | None = None

    @classmethod
    def of(
        cls,
        configmaps: Iterable[str] | None = None,
        secrets: Iterable[str] | None = None,
        pvcs: Iterable[str] | None = None,
    ) -> ConfigExistence:
        return cls(
            configmaps=None if configmaps is None else frozenset(configmaps),
            secrets=None if secrets is None else frozenset(secrets),
            pvcs=None if pvcs is None else frozenset(pvcs),
        )


@dataclass(frozen=True)
class Reference:
    kind: str  # ConfigMap, Secret, PersistentVolumeClaim
    name: str
    where: str  # e.g. "env DB_PASSWORD of container app", "volume data"
    container: str | None = None
    optional: bool = False


@dataclass
class ConfigFindings:
    issues: list[Issue] = field(default_factory=list)
    recommendations: list[str] = field(default_factory=list)


def _all_containers(pod: Obj) -> list[tuple[Obj, bool]]:
    return [(c, True) for c in lst(pod, "spec", "initContainers")] + [
        (c, False) for c in lst(pod, "spec", "containers")
    ]


def _container_references(c: Obj) -> list[Reference]:
    """The ConfigMaps and Secrets one container's env and envFrom name."""
    cname = s(c, "name")
    refs: list[Reference] = []
    for env in lst(c, "env"):
        source = m(env, "valueFrom")
        for key, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
            ref = m(source, key)
            if ref and s(ref, "name"):
                refs.append(
                    Reference(
                        kind,
                        s(ref, "name") or "",
                        f"env {s(env, 'name')} of container {cname}",
                        cname,
                        ref.get("optional") is True,
                    )
                )
    for env_from in lst(c, "envFrom"):
        for key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
            ref = m(env_from, key)
            if ref and s(ref, "name"):
                refs.append(
                    Reference(
                        kind,
                        s(ref, "name") or "",
                        f"envFrom of container {cname}",
                        cname,
                        ref.get("optional") is True,
                    )
                )
    return refs


def _volume_references(vol: Obj) -> list[Reference]:
    """The ConfigMaps, Secrets and claim one pod volume (projected ones too) names."""
    vname = s(vol, "name")
    refs: list[Reference] = []
    for kind, key, name_field, where in (
        ("ConfigMap", "configMap", "name", f"volume {vname}"),
        ("Secret", "secret", "secretName", f"volume {vname}"),
    ):
        if s(vol, key, name_field):
            refs.append(
                Reference(
                    kind,
                    s(vol, key, name_field) or "",
                    where,
                    optional=m(vol, key).get("optional") is True,
                )
            )
    if s(vol, "persistentVolumeClaim", "claimName"):
        refs.append(
            Reference(
                "PersistentVolumeClaim",
                s(vol, "persistentVolumeClaim", "claimName") or "",
                f"volume {vname}",
            )
        )
    for source in lst(vol, "projected", "sources"):
        for kind, key in (("ConfigMap", "configMap"), ("Secret", "secret")):
            if s(source, key, "name"):
                refs.append(
                    Reference(
                        kind,
                        s(source, key, "name") or "",
                        f"projected volume {vname}",
                        optional=m(source, key).get("optional") is True,
                    )
                )
    return refs


def references(pod: Obj) -> list[Reference]:
    """Every ConfigMap, Secret and PVC the pod spec refers to."""
    refs: list[Reference] = []
    for c, _init in _all_containers(pod):
        refs += _container_references(c)
    for vol in lst(pod, "spec", "volumes"):
        refs += _volume_references(vol)
    return refs


def missing_reference_issues(pod: Obj, existence: ConfigExistence | None) -> list[Issue]:
    if existence is None:
        return []
    known = {
        "ConfigMap": existence.configmaps,
        "Secret": existence.secrets,
        "PersistentVolumeClaim": existence.pvcs,
    }
    out: list[Issue] = []
    seen: set[tuple[str, str]] = set()
    for ref in references(pod):
        names = known[ref.kind]
        if names is None or ref.optional or ref.name in names:
            continue
        if (ref.kind, ref.name) in seen:
            continue
        seen.add((ref.kind, ref.name))
        out.append(
            missing_ref_issue(
                ref.kind, ref.name, container=ref.container, where=f"used by {ref.where}"
            )
        )
    # Pull secrets that do not exist only matter if the registry needs them: a recommendation.
    return out


def missing_pull_secrets(pod: Obj, existence: ConfigExistence | None) -> list[str]:
    if existence is None or existence.secrets is None:
        return []
    return [
        name
        for ref in lst(pod, "spec", "imagePullSecrets")
        if (name := s(ref, "name")) and name not in existence.secrets
    ]


def limit_issues(pod: Obj) -> list[Issue]:
    """Containers without a memory limit (info: advice, not a failure).

    A missing CPU limit alone is not flagged: many clusters leave CPU unlimited on purpose
    (throttling hurts more than sharing); an unbounded memory user can starve its node.
    """
    out: list[Issue] = []
    for c in lst(pod, "spec", "containers"):
        limits = m(c, "resources", "limits")
        if limits.get("memory") not in (None, ""):
            continue
        missing = [r for r in ("memory", "cpu") if limits.get(r) in (None, "")]
        name = s(c, "name")
        out.append(
            Issue(
                severity="info",
                type=IssueType.NO_RESOURCE_LIMITS,
                container=name,
                message=f"container {name} has no {' or '.join(missing)} limit",
            )
        )
    return out


# -- probes -----------------------------------------------------------------------------------


def _handler(probe: Obj) -> tuple[str, Any] | None:
    for key in ("httpGet", "tcpSocket", "grpc", "exec"):
        body = m(probe, key)
        if body:
            if key == "exec":
                return key, tuple(str(x) for x in body.get("command") or ())
            return key, (body.get("port"), body.get("path"), body.get("service"))
    return None


def _timings(probe: Obj) -> tuple[int, int, int, int]:
    """(initialDelaySeconds, periodSeconds, timeoutSeconds, failureThreshold) with defaults."""
    return (
        max(0, i(probe, "initialDelaySeconds") or 0),
        max(1, i(probe, "periodSeconds") or 10),
        max(1, i(probe, "timeoutSeconds") or 1),
        max(1, i(probe, "failureThreshold") or 3),
    )


def _port_problem(probe: Obj, container: Obj) -> str | None:
    kind_body = m(probe, "httpGet") or m(probe, "tcpSocket") or m(probe, "grpc")
    if not kind_body:
        return None
    port = kind_body.get("port")
    ports = lst(container, "ports")
    names = {s(p, "name") for p in ports if s(p, "name")}
    numbers = {i(p, "containerPort") for p in ports if i(p, "containerPort") is not None}
    if isinstance(port, str) and not port.isdigit():
        if port not in names:
            return f'names port "{port}", which the container does not declare'
        return None
    number = int(port) if isinstance(port, str) else port if isinstance(port, int) else None
    if number is not None and numbers and number not in numbers:
        listed = ", ".join(str(n) for n in sorted(x for x in numbers if x is not None))
        return f"checks port {number}, but the container exposes only {listed}"
    return None


def _healthy_containers(pod: Obj) -> set[str]:
    return {
        name
        for cs in lst(pod, "status", "containerStatuses")
        if (name := s(cs, "name")) and cs.get("ready") is True and (i(cs, "restartCount") or 0) == 0
    }


def _probe_port_and_timing(c: Obj, label: str, probe: Obj, found: ConfigFindings) -> None:
    """A probe aimed at a port the container does not declare; a timeout not under the
    period."""
    name = s(c, "name")
    problem = _port_problem(probe, c)
    if problem:
        found.issues.append(
            Issue(
                severity="warning" if label == "readiness" else "critical",
                type=IssueType.PROBE_MISCONFIGURED,
                container=name,
                message=f"{label} probe of container {name} {problem}",
                reason="ProbePort",
            )
        )
    _delay, period, timeout, _threshold = _timings(probe)
    if timeout >= period:
        found.recommendations.append(
            f"{label} probe of {name}: timeoutSeconds ({timeout}) should be shorter "
            f"than periodSeconds ({period})"
        )


def _liveness_start_window(name: str | None, liveness: Obj, found: ConfigFindings) -> None:
    """A liveness probe without a startupProbe that gives a slow start too little time."""
    delay, period, _timeout, threshold = _timings(liveness)
    window = delay + period * threshold
    if delay == 0 and threshold <= 1:
        found.issues.append(
            Issue(
                severity="warning",
                type=IssueType.PROBE_MISCONFIGURED,
                container=name,
                message=(
                    f"liveness probe of container {name} starts immediately "
                    f"(initialDelaySeconds 0) and kills on the first failure "
                    f"(failureThreshold {threshold}): a slow start is restarted forever"
                ),
                reason="LivenessTooAggressive",
            )
        )
    elif window < 10:
        found.recommendations.append(
            f"liveness probe of {name} allows only {window}s before the first restart; "
            "add a startupProbe or raise initialDelaySeconds"
        )


def _container_probe_findings(c: Obj) -> ConfigFindings:
    found = ConfigFindings()
    name = s(c, "name")
    liveness, readiness, startup = (
        m(c, "livenessProbe"),
        m(c, "readinessProbe"),
        m(c, "startupProbe"),
    )
    for label, probe in (
        ("liveness", liveness),
        ("readiness", readiness),
        ("startup", startup),
    ):
        if probe:
            _probe_port_and_timing(c, label, probe, found)
    if liveness and not startup:
        _liveness_start_window(name, liveness, found)
    if liveness and readiness and _handler(liveness) == _handler(readiness):
        _, l_period, l_timeout, l_threshold = _timings(liveness)
        if l_threshold <= 1 or (l_period <= 5 and l_timeout <= 1 and l_threshold <= 2):
            found.recommendations.append(
                f"liveness and readiness probes of {name} are the same check with aggressive "
                "timings: a slow response under load restarts the container instead of "
                "only taking it out of rotation; make liveness more lenient"
            )
    return found


def probe_findings(pod: Obj) -> ConfigFindings:
    """Probe mistakes: issues where the container suffers, advice where it is healthy anyway."""
    found = ConfigFindings()
    healthy = _healthy_containers(pod)
    for c in lst(pod, "spec", "containers"):
        own = _container_probe_findings(c)
        found.recommendations += own.recommendations
        if s(c, "name") in healthy:
            # Ready and never restarted: the probe evidently works; keep it as advice.
            found.recommendations += [f"Review: {issue.message}" for issue in own.issues]
        else:
            found.issues += own.issues
    return found


def limit_range_max_memory(limit_ranges: Sequence[Obj]) -> int | None:
    """The smallest `max` memory a LimitRange allows one container (Container or Pod scope)."""
    maxima: list[int] = []
    for lr in limit_ranges:
        for item in lst(lr, "spec", "limits"):
            if s(item, "type") not in ("Container", "Pod"):
                continue
            value = memory_bytes(m(item, "max").get("memory"))
            if value is not None:
                maxima.append(value)
    return min(maxima) if maxima else None


def config_findings(
    pod: Obj,
    existence: ConfigExistence | None = None,
) -> ConfigFindings:
    """All configuration findings for the pod."""
    found = ConfigFindings()
    found.issues.extend(missing_reference_issues(pod, existence))
    probes = probe_findings(pod)
    found.issues.extend(probes.issues)
    found.issues.extend(limit_issues(pod))
    found.recommendations.extend(probes.recommendations)
    for name in missing_pull_secrets(pod, existence):
        found.recommendations.append(
            f'imagePullSecret "{name}" does not exist in the namespace: private images '
            "will fail to pull"
        )
    return found
