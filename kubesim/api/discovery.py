"""Discovery documents: /version, /api, /apis, per group-version resource lists, and the
aggregated (apidiscovery.k8s.io/v2beta1 and v2) form newer clients ask for."""

from __future__ import annotations

from typing import Any

from kubesim.api.nodemetrics import NODE_METRICS
from kubesim.store import RESOURCE_TYPES, ResourceType
from kubesim.version import DEFAULT, KubeVersion

Doc = dict[str, Any]

VERSION: Doc = DEFAULT.document()  # 1.28, as recorded

# Subresources kubesim serves: (parent plural, subresource, (group, version, kind) or None, verbs)
SUBRESOURCES: tuple[tuple[str, str, tuple[str, str, str] | None, tuple[str, ...]], ...] = (
    ("namespaces", "status", None, ("get", "patch", "update")),
    ("nodes", "status", None, ("get", "patch", "update")),
    ("pods", "eviction", ("policy", "v1", "Eviction"), ("create",)),
    ("pods", "log", None, ("get",)),
    ("pods", "resize", None, ("get", "patch", "update")),  # from 1.33 (see served())
    ("pods", "status", None, ("get", "patch", "update")),
    ("persistentvolumeclaims", "status", None, ("get", "patch", "update")),
    ("persistentvolumes", "status", None, ("get", "patch", "update")),
    ("deployments", "scale", ("autoscaling", "v1", "Scale"), ("get", "patch", "update")),
    ("deployments", "status", None, ("get", "patch", "update")),
    ("replicasets", "scale", ("autoscaling", "v1", "Scale"), ("get", "patch", "update")),
    ("replicasets", "status", None, ("get", "patch", "update")),
    ("poddisruptionbudgets", "status", None, ("get", "patch", "update")),
    ("statefulsets", "scale", ("autoscaling", "v1", "Scale"), ("get", "patch", "update")),
    ("statefulsets", "status", None, ("get", "patch", "update")),
    ("daemonsets", "status", None, ("get", "patch", "update")),
    ("services", "status", None, ("get", "patch", "update")),
    ("jobs", "status", None, ("get", "patch", "update")),
    ("cronjobs", "status", None, ("get", "patch", "update")),
)
_ALL_CATEGORY = {"pods", "deployments", "replicasets", "statefulsets", "daemonsets"}
_ALL_CATEGORY |= {"services", "jobs", "cronjobs"}


Subresource = tuple[str, str, tuple[str, str, str] | None, tuple[str, ...]]


def served(kube: KubeVersion) -> tuple[Subresource, ...]:
    """The subresources a server of this version lists."""
    return tuple(
        s for s in SUBRESOURCES if kube.in_place_resize or (s[0], s[1]) != ("pods", "resize")
    )


def group_versions(metrics: bool) -> dict[tuple[str, str], list[ResourceType]]:
    out: dict[tuple[str, str], list[ResourceType]] = {}
    for rt in (*RESOURCE_TYPES, NODE_METRICS):
        if rt.group == "metrics.k8s.io" and not metrics:
            continue
        out.setdefault((rt.group, rt.version), []).append(rt)
    return out


def _verbs(rt: ResourceType) -> list[str]:
    if rt.plural == "namespaces":
        return [v for v in rt.verbs if v != "deletecollection"]
    return sorted(rt.verbs)


def api_versions() -> Doc:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}
        ],
    }


def api_group_list(metrics: bool) -> Doc:
    groups: list[Doc] = []
    for group, version in group_versions(metrics):
        if not group:
            continue
        gv = {"groupVersion": f"{group}/{version}", "version": version}
        groups.append({"name": group, "versions": [gv], "preferredVersion": gv})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(group: str, metrics: bool) -> Doc | None:
    for g in api_group_list(metrics)["groups"]:
        if g["name"] == group:
            return {"kind": "APIGroup", "apiVersion": "v1", **g}
    return None


def resource_list(
    group: str, version: str, metrics: bool, kube: KubeVersion = DEFAULT
) -> Doc | None:
    types = group_versions(metrics).get((group, version))
    if types is None:
        return None
    resources: list[Doc] = []
    for rt in sorted(types, key=lambda t: t.plural):
        entry: Doc = {
            "name": rt.plural,
            "singularName": rt.kind.lower(),
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": _verbs(rt),
        }
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.plural in _ALL_CATEGORY and rt.group in ("", "apps", "batch"):
            entry["categories"] = ["all"]
        resources.append(entry)
        for parent, sub, gvk, verbs in served(kube):
            if parent != rt.plural or rt.group == "metrics.k8s.io":
                continue
            sub_entry: Doc = {
                "name": f"{parent}/{sub}",
                "singularName": "",
                "namespaced": rt.namespaced,
            }
            if gvk:
                sub_entry.update({"group": gvk[0], "version": gvk[1], "kind": gvk[2]})
            else:
                sub_entry["kind"] = rt.kind
            sub_entry["verbs"] = list(verbs)
            resources.append(sub_entry)
    gv = f"{group}/{version}" if group else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv,
        "resources": resources,
    }


def aggregated(legacy: bool, metrics: bool, api_version: str, kube: KubeVersion = DEFAULT) -> Doc:
    """APIGroupDiscoveryList for /api (legacy=True) or /apis."""
    items: list[Doc] = []
    by_group: dict[str, list[tuple[str, list[ResourceType]]]] = {}
    for (group, version), types in group_versions(metrics).items():
        if (group == "") != legacy:
            continue
        by_group.setdefault(group, []).append((version, types))
    for group, versions in by_group.items():
        version_docs: list[Doc] = []
        for version, types in versions:
            res_docs: list[Doc] = []
            for rt in sorted(types, key=lambda t: t.plural):
                doc: Doc = {
                    "resource": rt.plural,
                    "responseKind": {"group": "", "version": "", "kind": rt.kind},
                    "scope": "Namespaced" if rt.namespaced else "Cluster",
                    "singularResource": rt.kind.lower(),
                    "verbs": _verbs(rt),
                }
                if rt.short_names:
                    doc["shortNames"] = list(rt.short_names)
                if rt.plural in _ALL_CATEGORY and rt.group in ("", "apps", "batch"):
                    doc["categories"] = ["all"]
                subs = []
                for parent, sub, gvk, verbs in served(kube):
                    if parent == rt.plural and rt.group != "metrics.k8s.io":
                        kind = (
                            {"group": gvk[0], "version": gvk[1], "kind": gvk[2]}
                            if gvk
                            else {"group": "", "version": "", "kind": rt.kind}
                        )
                        subs.append(
                            {"subresource": sub, "responseKind": kind, "verbs": list(verbs)}
                        )
                if subs:
                    doc["subresources"] = subs
                res_docs.append(doc)
            version_docs.append({"version": version, "resources": res_docs, "freshness": "Current"})
        meta: Doc = (
            {"creationTimestamp": None} if legacy else {"name": group, "creationTimestamp": None}
        )
        items.append({"metadata": meta, "versions": version_docs})
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": api_version,
        "metadata": {},
        "items": items,
    }
