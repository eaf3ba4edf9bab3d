"""Protobuf encoding of an OpenAPI v2 document (gnostic's openapi_v2.Document).

kubectl asks for `/openapi/v2` as `application/com.github.proto-openapi.spec.v2@v1.0+protobuf`
and parses nothing else. The message layout follows google/gnostic openapiv2/OpenAPIv2.proto;
only the parts kube-openapi reads are encoded. Vendor extensions travel as YAML text (JSON is
YAML), as gnostic encodes them.
"""

from __future__ import annotations

import json
import struct
from typing import Any

Json = dict[str, Any]


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint((field << 3) | wire)


def _bytes(field: int, data: bytes) -> bytes:
    return _key(field, 2) + _varint(len(data)) + data


def _str(field: int, value: str | None) -> bytes:
    return _bytes(field, value.encode()) if value else b""


def _bool(field: int, value: Any) -> bytes:
    return _key(field, 0) + _varint(1) if value else b""


def _int(field: int, value: Any) -> bytes:
    return _key(field, 0) + _varint(int(value)) if value is not None else b""


def _double(field: int, value: Any) -> bytes:
    return _key(field, 1) + struct.pack("<d", float(value)) if value is not None else b""


def _any(value: Any) -> bytes:
    # Any { google.protobuf.Any value = 1; string yaml = 2; }
    return _str(2, json.dumps(value, separators=(",", ":")))


def _named_any(name: str, value: Any) -> bytes:
    return _str(1, name) + _bytes(2, _any(value))


def _extensions(field: int, obj: Json) -> bytes:
    return b"".join(_bytes(field, _named_any(k, v)) for k, v in obj.items() if k.startswith("x-"))


def schema(s: Json) -> bytes:
    out = bytearray()
    out += _str(1, s.get("$ref"))
    out += _str(2, s.get("format"))
    out += _str(3, s.get("title"))
    out += _str(4, s.get("description"))
    if "default" in s:
        out += _bytes(5, _any(s["default"]))
    out += _double(7, s.get("maximum"))
    out += _double(9, s.get("minimum"))
    out += _int(11, s.get("maxLength"))
    out += _int(12, s.get("minLength"))
    out += _str(13, s.get("pattern"))
    out += _bool(16, s.get("uniqueItems"))
    for name in s.get("required") or []:
        out += _str(19, name)
    for value in s.get("enum") or []:
        out += _bytes(20, _any(value))
    extra = s.get("additionalProperties")
    if isinstance(extra, dict):
        out += _bytes(21, _bytes(1, schema(extra)))
    elif isinstance(extra, bool):
        out += _bytes(21, _key(2, 0) + _varint(1 if extra else 0))
    kind = s.get("type")
    if kind:
        types = kind if isinstance(kind, list) else [kind]
        out += _bytes(22, b"".join(_str(1, t) for t in types))
    items = s.get("items")
    if isinstance(items, dict):
        out += _bytes(23, _bytes(1, schema(items)))
    for sub in s.get("allOf") or []:
        out += _bytes(24, schema(sub))
    props = s.get("properties")
    if isinstance(props, dict):
        named = b"".join(_bytes(1, _str(1, k) + _bytes(2, schema(v))) for k, v in props.items())
        out += _bytes(25, named)
    out += _extensions(31, s)
    return bytes(out)


def _parameter(p: Json) -> bytes:
    if p.get("in") == "body":
        body = (
            _str(1, p.get("description"))
            + _str(2, p.get("name"))
            + _str(3, "body")
            + _bool(4, p.get("required"))
            + _bytes(5, schema(p.get("schema") or {}))
        )
        parameter = _bytes(1, body)
    else:
        sub = (
            _bool(1, p.get("required"))
            + _str(2, p.get("in"))
            + _str(3, p.get("description"))
            + _str(4, p.get("name"))
            + _str(6, p.get("type"))
            + _bool(20, p.get("uniqueItems"))
        )
        field = {"query": 3, "path": 4, "header": 1, "formData": 2}.get(str(p.get("in")), 3)
        parameter = _bytes(2, _bytes(field, sub))
    return _bytes(1, parameter)  # ParametersItem.parameter


def _operation(op: Json) -> bytes:
    out = bytearray()
    for tag in op.get("tags") or []:
        out += _str(1, tag)
    out += _str(3, op.get("description"))
    out += _str(5, op.get("operationId"))
    for mt in op.get("produces") or []:
        out += _str(6, mt)
    for mt in op.get("consumes") or []:
        out += _str(7, mt)
    for p in op.get("parameters") or []:
        out += _bytes(8, _parameter(p))
    responses = bytearray()
    for code, resp in (op.get("responses") or {}).items():
        response = _str(1, resp.get("description"))
        if isinstance(resp.get("schema"), dict):
            response += _bytes(2, _bytes(1, schema(resp["schema"])))
        responses += _bytes(1, _str(1, code) + _bytes(2, _bytes(1, response)))
    out += _bytes(9, bytes(responses))
    out += _extensions(13, op)
    return bytes(out)


def _path_item(item: Json) -> bytes:
    out = bytearray()
    for method, field in (("get", 2), ("put", 3), ("post", 4), ("delete", 5), ("patch", 8)):
        if method in item:
            out += _bytes(field, _operation(item[method]))
    for p in item.get("parameters") or []:
        out += _bytes(9, _parameter(p))
    return bytes(out)


def document(doc: Json) -> bytes:
    out = bytearray()
    out += _str(1, doc.get("swagger", "2.0"))
    info = doc.get("info") or {}
    out += _bytes(2, _str(1, info.get("title")) + _str(2, info.get("version")))
    paths = b"".join(
        _bytes(2, _str(1, p) + _bytes(2, _path_item(item)))
        for p, item in (doc.get("paths") or {}).items()
    )
    out += _bytes(8, paths)
    definitions = b"".join(
        _bytes(1, _str(1, n) + _bytes(2, schema(s)))
        for n, s in (doc.get("definitions") or {}).items()
    )
    out += _bytes(9, definitions)
    return bytes(out)
