"""The three PATCH flavours: strategic-merge (schema-driven), JSON merge (RFC 7386), JSON patch.

Strategic merge reads `x-kubernetes-patch-strategy` / `x-kubernetes-patch-merge-key` from the
same definitions the OpenAPI documents are built from, and honours the directives kubectl sends:
`$patch: replace|delete|merge`, `$setElementOrder/<list>`, `$retainKeys`,
`$deleteFromPrimitiveList/<list>`, and `null` to delete a key.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch

from kubesim.api.errors import ApiError
from kubesim.api.openapi import definitions

Schema = dict[str, Any]

STRATEGIC = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"


class PatchError(ApiError):
    pass


def _unsupported(content_type: str) -> ApiError:
    return (
        ApiError(
            415,
            "UnsupportedMediaType",
            f"the body of the request was in an unknown format - accepted media types include: "
            f"{JSON_PATCH}, {MERGE}, {STRATEGIC}, {APPLY}",
            {},
        )
        if content_type
        else ApiError(415, "UnsupportedMediaType", "missing content type", {})
    )


def apply_patch(
    current: dict[str, Any], body: Any, content_type: str, definition: str | None
) -> dict[str, Any]:
    """The patched object; raises ApiError (400 / 415 / 422) when the patch cannot apply."""
    ct = content_type.split(";")[0].strip().lower()
    if ct == JSON_PATCH:
        if not isinstance(body, list):
            raise ApiError(
                400,
                "BadRequest",
                "json: cannot unmarshal object into Go value of type jsonpatch.Patch",
            )
        try:
            result = jsonpatch.apply_patch(current, body)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            # A real server names neither the op nor the path (a failed `test` included).
            raise ApiError(
                422, "Invalid", "the server rejected our request due to an error in our request", {}
            ) from exc
        if not isinstance(result, dict):
            raise ApiError(
                422, "Invalid", "the patch replaced the whole object with a non-object", {}
            )
        return result
    if not isinstance(body, dict):
        raise ApiError(
            400,
            "BadRequest",
            "json: cannot unmarshal array into Go value of type map[string]interface {}",
        )
    if ct == APPLY:
        # Server-side apply without field ownership: the applied configuration merged in.
        schema_apply: Schema | None = definitions().get(definition) if definition else None
        applied: dict[str, Any] = strategic_merge(current, body, schema_apply)
        return applied
    if ct == MERGE:
        merged: dict[str, Any] = merge_patch(current, body)
        return merged
    if ct == STRATEGIC:
        schema: Schema | None = definitions().get(definition) if definition else None
        patched: dict[str, Any] = strategic_merge(current, body, schema)
        return patched
    raise _unsupported(ct)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# -- strategic merge --------------------------------------------------------------------
def _resolve(schema: Schema | None) -> Schema | None:
    """Follow $ref / allOf wrappers to the schema that has properties or items."""
    seen = 0
    while schema is not None and seen < 20:
        seen += 1
        ref = schema.get("$ref")
        if isinstance(ref, str):
            schema = definitions().get(ref.rsplit("/", 1)[-1])
            continue
        all_of = schema.get("allOf")
        if isinstance(all_of, list) and all_of:
            schema = all_of[0]
            continue
        return schema
    return schema


def _field(schema: Schema | None, key: str) -> Schema | None:
    resolved = _resolve(schema)
    if resolved is None:
        return None
    props = resolved.get("properties")
    if isinstance(props, dict) and key in props:
        field_schema: Schema = props[key]
        return field_schema
    extra = resolved.get("additionalProperties")
    if isinstance(extra, dict):
        return extra
    return None


def _items(schema: Schema | None) -> Schema | None:
    resolved = _resolve(schema)
    if resolved is None:
        return None
    items = resolved.get("items")
    return items if isinstance(items, dict) else None


def strategic_merge(original: Any, patch: dict[str, Any], schema: Schema | None) -> Any:
    if not isinstance(original, dict):
        original = {}
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: v for k, v in _strip(patch).items()}
    if directive == "delete":
        return None
    result = copy.deepcopy(original)
    retain = patch.get("$retainKeys")
    orders: dict[str, list[Any]] = {}
    deletions: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys"):
            continue
        if key.startswith("$setElementOrder/"):
            orders[key.split("/", 1)[1]] = value
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            deletions[key.split("/", 1)[1]] = value
            continue
        field_schema = _field(schema, key)
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            merged = strategic_merge(result.get(key), value, field_schema)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _merge_list(result.get(key), value, field_schema)
        else:
            result[key] = value
    for key, values in deletions.items():
        if isinstance(result.get(key), list):
            result[key] = [v for v in result[key] if v not in values]
    for key, order in orders.items():
        if isinstance(result.get(key), list):
            result[key] = _reorder(result[key], order, _merge_key(_field(schema, key)))
    if isinstance(retain, list):
        for key in list(result):
            if key not in retain:
                del result[key]
    return result


def _merge_key(schema: Schema | None) -> str | None:
    if schema is None:
        return None
    key = schema.get("x-kubernetes-patch-merge-key")
    return key if isinstance(key, str) else None


def _strategy(schema: Schema | None) -> str:
    if schema is None:
        return ""
    value = schema.get("x-kubernetes-patch-strategy")
    return value if isinstance(value, str) else ""


def _strip(value: Any) -> Any:
    """Remove patch directives from a value that is taken as is."""
    if isinstance(value, dict):
        return {
            k: _strip(v)
            for k, v in value.items()
            if not (
                k.startswith("$setElementOrder/")
                or k.startswith("$deleteFromPrimitiveList/")
                or k in ("$patch", "$retainKeys")
            )
        }
    if isinstance(value, list):
        return [
            _strip(v) for v in value if not (isinstance(v, dict) and v.get("$patch") == "delete")
        ]
    return value


def _merge_list(original: Any, patch: list[Any], schema: Schema | None) -> list[Any]:
    strategies = _strategy(schema).split(",")
    if isinstance(original, list) and "merge" in strategies:
        if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
            return [
                _strip(p)
                for p in patch
                if not (isinstance(p, dict) and p.get("$patch") == "replace")
            ]
        key = _merge_key(schema)
        if key is None:  # list of primitives: union, original order first
            merged = list(original)
            for item in patch:
                if item not in merged:
                    merged.append(item)
            return merged
        item_schema = _items(schema)
        merged = copy.deepcopy(original)
        for item in patch:
            if not isinstance(item, dict):
                continue
            index = next(
                (
                    i
                    for i, o in enumerate(merged)
                    if isinstance(o, dict) and o.get(key) == item.get(key)
                ),
                None,
            )
            if item.get("$patch") == "delete":
                if index is not None:
                    merged.pop(index)
                continue
            if index is None:
                merged.append(_strip(item))
            else:
                merged[index] = strategic_merge(merged[index], item, item_schema)
        return merged
    return [_strip(p) for p in patch]


def _reorder(items: list[Any], order: list[Any], key: str | None) -> list[Any]:
    """Order as `$setElementOrder` says; items it does not name keep their place at the end."""

    def ident(item: Any) -> Any:
        return item.get(key) if key and isinstance(item, dict) else item

    wanted = [ident(o) for o in order]
    ranked = {w: i for i, w in enumerate(wanted) if isinstance(w, str | int | float | bool)}
    return sorted(items, key=lambda it: ranked.get(ident(it), len(ranked)))
