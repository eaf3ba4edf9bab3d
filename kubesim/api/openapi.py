"""OpenAPI v3 (and v2) documents built from the Kubernetes schemas `kubernetes-validate` ships.

The schemas carry the group-version-kind and the strategic-merge-patch extensions
(`x-kubernetes-patch-merge-key`, `x-kubernetes-patch-strategy`); kubectl reads them before
`apply`, and `kubesim.api.patch` uses the same definitions to drive strategic-merge patch.
Paths are generated from kubesim's resource types, so kubectl's query-parameter checks
(`fieldValidation` on PATCH for a group-version-kind) find what a real server publishes.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any

from kubesim.api import openapi_pb
from kubesim.store import RESOURCE_TYPES, ResourceType

SCHEMA_VERSION = "v1.28.0-local"
Schema = dict[str, Any]


@functools.cache
def definitions() -> dict[str, Schema]:
    """The raw JSON-schema definitions (refs of the form `#/$defs/NAME`)."""
    # Locate the package without importing it: its __init__ pulls in jsonschema, unused here.
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("kubernetes-validate is not installed; kubesim needs its schemas")
    root = Path(next(iter(spec.submodule_search_locations)))
    path = root / "kubernetes-json-schema" / SCHEMA_VERSION / "_definitions.json"
    data = json.loads(path.read_text())
    defs: dict[str, Schema] = data["$defs"]
    return defs


def definition_for(rtype: ResourceType) -> str | None:
    """The definition name whose group-version-kind is that resource type's."""
    return _gvk_index().get((rtype.group, rtype.version, rtype.kind))


@functools.cache
def _gvk_index() -> dict[tuple[str, str, str], str]:
    index: dict[tuple[str, str, str], str] = {}
    for name, schema in definitions().items():
        for gvk in schema.get("x-kubernetes-group-version-kind", []):
            index.setdefault((gvk["group"], gvk["version"], gvk["kind"]), name)
    return index


def _convert(node: Any, ref_prefix: str) -> Any:
    """JSON-schema draft form to OpenAPI form: nullable type lists collapse, refs re-point."""
    if isinstance(node, list):
        return [_convert(x, ref_prefix) for x in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            out[key] = ref_prefix + value.rsplit("/", 1)[-1]
        elif key == "type" and isinstance(value, list):
            types = [t for t in value if t != "null"]
            out[key] = types[0] if len(types) == 1 else types
        elif key == "enum":
            # kubernetes-validate pins apiVersion / kind with enums the server's schema lacks
            continue
        else:
            out[key] = _convert(value, ref_prefix)
    one_of = out.get("oneOf")
    if isinstance(one_of, list):
        alternatives = {o.get("type") for o in one_of if isinstance(o, dict)}
        if alternatives == {"string", "integer"}:
            out["format"] = "int-or-string"
        if ref_prefix == "#/definitions/":
            # Swagger 2.0 has no oneOf: int-or-string and quantities are strings there.
            del out["oneOf"]
            out["type"] = "string"
    return out


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            if name not in found:
                found.add(name)
                _refs(definitions().get(name, {}), found)
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def _closure(names: list[str]) -> list[str]:
    found: set[str] = set()
    for name in names:
        if name in definitions():
            found.add(name)
            _refs(definitions()[name], found)
    return sorted(n for n in found if n in definitions())


# -- paths ------------------------------------------------------------------------------
_PARAM_DOC = {
    "dryRun": "When present, indicates that modifications should not be persisted.",
    "fieldManager": "fieldManager is a name associated with the actor or entity that is making these changes.",  # noqa: E501
    "fieldValidation": "fieldValidation instructs the server on how to handle objects in the request "  # noqa: E501
    "(POST/PUT/PATCH) containing unknown or duplicate fields.",
    "force": 'Force is going to "force" Apply requests.',
    "gracePeriodSeconds": "The duration in seconds before the object should be deleted.",
    "propagationPolicy": "Whether and how garbage collection will be performed.",
    "labelSelector": "A selector to restrict the list of returned objects by their labels.",
    "fieldSelector": "A selector to restrict the list of returned objects by their fields.",
    "limit": "limit is a maximum number of responses to return for a list call.",
    "continue": "The continue option should be set when retrieving more results from the server.",
    "resourceVersion": "resourceVersion sets a constraint on what resource versions a request may be served from.",  # noqa: E501
    "watch": "Watch for changes to the described resources and return them as a stream.",
    "timeoutSeconds": "Timeout for the list/watch call.",
    "allowWatchBookmarks": 'allowWatchBookmarks requests watch events with type "BOOKMARK".',
}
_PARAM_TYPE = {
    "gracePeriodSeconds": "integer",
    "limit": "integer",
    "timeoutSeconds": "integer",
    "watch": "boolean",
    "allowWatchBookmarks": "boolean",
    "force": "boolean",
}


def _params(*names: str) -> list[Schema]:
    return [
        {
            "name": n,
            "in": "query",
            "description": _PARAM_DOC[n],
            "schema": {"type": _PARAM_TYPE.get(n, "string"), "uniqueItems": True},
        }
        for n in names
    ]


def _content(ref: str, v2: bool) -> Schema:
    if v2:
        return {"schema": {"$ref": ref}}
    return {
        "content": {
            mt: {"schema": {"$ref": ref}}
            for mt in (
                "application/json",
                "application/yaml",
                "application/vnd.kubernetes.protobuf",
            )
        }
    }


def _op(
    action: str,
    op_id: str,
    gvk: Schema,
    ref: str,
    params: list[Schema],
    v2: bool,
    body: bool = False,
    patch: bool = False,
) -> Schema:
    op: Schema = {
        "tags": [gvk["tag"]],
        "description": f"{action} {gvk['kind']}",
        "operationId": op_id,
        "responses": {
            "200": {"description": "OK", **_content(ref, v2)},
            "401": {"description": "Unauthorized"},
        },
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {k: gvk[k] for k in ("group", "version", "kind")},
    }
    if params:
        if v2:
            params = [
                {
                    "uniqueItems": True,
                    "type": p["schema"]["type"],
                    "description": p["description"],
                    "name": p["name"],
                    "in": p["in"],
                }
                for p in params
            ]
        op["parameters"] = list(params)
    if v2:
        op["consumes"] = ["*/*"]
        op["produces"] = [
            "application/json",
            "application/yaml",
            "application/vnd.kubernetes.protobuf",
        ]
        op["schemes"] = ["https"]
    if body:
        if v2:
            body_param = {"name": "body", "in": "body", "required": True, "schema": {"$ref": ref}}
            op.setdefault("parameters", []).insert(0, body_param)
        elif patch:
            op["requestBody"] = {
                "content": {
                    mt: {
                        "schema": {
                            "$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"  # noqa: E501
                        }
                    }
                    for mt in (
                        "application/apply-patch+yaml",
                        "application/json-patch+json",
                        "application/merge-patch+json",
                        "application/strategic-merge-patch+json",
                    )
                }
            }
        else:
            op["requestBody"] = {"content": {"*/*": {"schema": {"$ref": ref}}}}
    return op


def _camel(text: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in text.replace(".", "-").split("-"))


def _paths(gv_types: list[ResourceType], v2: bool) -> dict[str, Schema]:
    prefix = "#/definitions/" if v2 else "#/components/schemas/"
    paths: dict[str, Schema] = {}
    for rt in gv_types:
        name = definition_for(rt)
        if name is None:
            continue
        ref = prefix + name
        list_ref = prefix + (definition_for(_list_type(rt)) or name)
        base = f"/apis/{rt.group}/{rt.version}" if rt.group else f"/api/{rt.version}"
        group_part = _camel(rt.group.split(".")[0]) if rt.group else "Core"
        tag = f"{rt.group.split('.')[0]}_{rt.version}" if rt.group else f"core_{rt.version}"
        gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind, "tag": tag}
        ns_seg = "Namespaced" if rt.namespaced else ""
        coll = (
            f"{base}/namespaces/{{namespace}}/{rt.plural}"
            if rt.namespaced
            else f"{base}/{rt.plural}"
        )
        item = f"{coll}/{{name}}"
        op_base = f"{group_part}{_camel(rt.version)}{ns_seg}{rt.kind}"
        write = ("dryRun", "fieldManager", "fieldValidation")
        listing = (
            "labelSelector",
            "fieldSelector",
            "limit",
            "continue",
            "resourceVersion",
            "watch",
            "timeoutSeconds",
            "allowWatchBookmarks",
        )
        paths[coll] = {
            "get": _op("list", f"list{op_base}", gvk, list_ref, _params(*listing), v2),
            "post": _op("post", f"create{op_base}", gvk, ref, _params(*write), v2, body=True),
            "delete": _op(
                "deletecollection",
                f"deleteCollection{op_base}",
                gvk,
                prefix + "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
                _params("dryRun", "gracePeriodSeconds", "propagationPolicy", *listing[:4]),
                v2,
            ),
        }
        paths[item] = {
            "get": _op("get", f"read{op_base}", gvk, ref, [], v2),
            "put": _op("put", f"replace{op_base}", gvk, ref, _params(*write), v2, body=True),
            "patch": _op(
                "patch",
                f"patch{op_base}",
                gvk,
                ref,
                _params(*write, "force"),
                v2,
                body=True,
                patch=True,
            ),
            "delete": _op(
                "delete",
                f"delete{op_base}",
                gvk,
                ref,
                _params("dryRun", "gracePeriodSeconds", "propagationPolicy"),
                v2,
            ),
        }
        if rt.namespaced:
            paths[f"{base}/{rt.plural}"] = {
                "get": _op(
                    "list",
                    f"list{group_part}{_camel(rt.version)}{rt.kind}ForAllNamespaces",
                    gvk,
                    list_ref,
                    _params(*listing),
                    v2,
                ),
            }
        if rt.kind in (
            "Pod",
            "Deployment",
            "ReplicaSet",
            "Node",
            "Namespace",
            "PodDisruptionBudget",
            "StatefulSet",
            "DaemonSet",
        ):
            paths[f"{item}/status"] = {
                "get": _op("get", f"read{op_base}Status", gvk, ref, [], v2),
                "put": _op(
                    "put", f"replace{op_base}Status", gvk, ref, _params(*write), v2, body=True
                ),
                "patch": _op(
                    "patch",
                    f"patch{op_base}Status",
                    gvk,
                    ref,
                    _params(*write, "force"),
                    v2,
                    body=True,
                    patch=True,
                ),
            }
        if rt.kind in ("Deployment", "ReplicaSet", "StatefulSet"):
            scale_gvk = {"group": "autoscaling", "version": "v1", "kind": "Scale", "tag": tag}
            scale_ref = prefix + "io.k8s.api.autoscaling.v1.Scale"
            paths[f"{item}/scale"] = {
                "get": _op("get", f"read{op_base}Scale", scale_gvk, scale_ref, [], v2),
                "put": _op(
                    "put",
                    f"replace{op_base}Scale",
                    scale_gvk,
                    scale_ref,
                    _params(*write),
                    v2,
                    body=True,
                ),
                "patch": _op(
                    "patch",
                    f"patch{op_base}Scale",
                    scale_gvk,
                    scale_ref,
                    _params(*write, "force"),
                    v2,
                    body=True,
                    patch=True,
                ),
            }
    return paths


def _list_type(rt: ResourceType) -> ResourceType:
    return ResourceType(rt.group, rt.version, rt.plural, rt.kind + "List", rt.namespaced)


def _served_group_versions() -> dict[str, list[ResourceType]]:
    """OpenAPI key ("api/v1", "apis/apps/v1") -> resource types; metrics is aggregated, not here."""
    out: dict[str, list[ResourceType]] = {}
    for rt in RESOURCE_TYPES:
        if rt.group == "metrics.k8s.io":
            continue
        key = f"apis/{rt.group}/{rt.version}" if rt.group else f"api/{rt.version}"
        out.setdefault(key, []).append(rt)
    return out


def _extra_schemas(rts: list[ResourceType]) -> list[str]:
    names = [definition_for(rt) for rt in rts] + [definition_for(_list_type(rt)) for rt in rts]
    extra = [
        "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
        "io.k8s.apimachinery.pkg.apis.meta.v1.Patch",
        "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
        "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent",
    ]
    if any(rt.kind in ("Deployment", "ReplicaSet") for rt in rts):
        extra.append("io.k8s.api.autoscaling.v1.Scale")
    if any(rt.kind == "Pod" for rt in rts):
        extra.append("io.k8s.api.policy.v1.Eviction")
    return [n for n in names if n] + extra


@functools.cache
def v3_document(key: str) -> bytes | None:
    """The OpenAPI v3 document for one group-version ("api/v1"), serialized; None if unknown."""
    rts = _served_group_versions().get(key)
    if rts is None:
        return None
    schemas = {
        n: _convert(definitions()[n], "#/components/schemas/")
        for n in _closure(_extra_schemas(rts))
    }
    if "io.k8s.apimachinery.pkg.apis.meta.v1.Patch" not in schemas:
        schemas["io.k8s.apimachinery.pkg.apis.meta.v1.Patch"] = {
            "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH "  # noqa: E501
            "request body.",
            "type": "object",
        }
    doc = {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.28.7"},
        "paths": _paths(rts, v2=False),
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "BearerToken": {
                    "type": "apiKey",
                    "description": "Bearer Token authentication",
                    "name": "authorization",
                    "in": "header",
                }
            },
        },
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def _hash(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest().upper()


@functools.cache
def v3_index() -> bytes:
    paths: dict[str, Schema] = {}
    for key in sorted(_served_group_versions()):
        doc = v3_document(key)
        assert doc is not None
        paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={_hash(doc)}"}
    return json.dumps({"paths": paths}, separators=(",", ":")).encode()


@functools.cache
def v2_protobuf() -> bytes:
    return openapi_pb.document(json.loads(v2_document()))


@functools.cache
def v2_document() -> bytes:
    rts = [rt for group in _served_group_versions().values() for rt in group]
    names = _closure(_extra_schemas(rts))
    doc = {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.28.7"},
        "paths": _paths(rts, v2=True),
        "definitions": {n: _convert(definitions()[n], "#/definitions/") for n in names},
        "securityDefinitions": {
            "BearerToken": {"type": "apiKey", "name": "authorization", "in": "header"}
        },
        "security": [{"BearerToken": []}],
    }
    return json.dumps(doc, separators=(",", ":")).encode()
