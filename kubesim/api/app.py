"""The HTTP face of kubesim: routing, auth, faults, request log, tables and watch streams."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import yaml
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from kubesim.api import discovery, errors, openapi, podlogs, tables
from kubesim.api.errors import ApiError
from kubesim.api.faults import Faults
from kubesim.api.handlers import Handlers, ListQuery
from kubesim.api.handlers import Response as HandlerResponse
from kubesim.api.nodemetrics import NODE_METRICS, node_metrics
from kubesim.api.paths import Target, parse
from kubesim.api.requestlog import RequestLog, RequestRecord
from kubesim.api.watch import WatchRegistry, open_watch
from kubesim.clock import SimClock
from kubesim.logs import LogStore
from kubesim.store import POD_METRICS, PODS, Store
from kubesim.version import DEFAULT, KubeVersion

FOLLOW_POLL = 0.2  # wall seconds between looks at a followed container's log
AGGREGATED_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


@dataclass
class ApiState:
    store: Store
    clock: SimClock
    logs: LogStore
    token: str
    reconcile: Callable[[], None]
    metrics_enabled: bool = True
    kube: KubeVersion = DEFAULT
    faults: Faults = field(default_factory=Faults)
    requests: RequestLog = field(default_factory=RequestLog)
    watches: WatchRegistry = field(default_factory=WatchRegistry)

    def drop_watches(self) -> int:
        return self.watches.drop_all()


@dataclass
class _Call:
    """What one request addresses, for routing, faults and the request log."""

    verb: str = ""
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""


def _verb(method: str, t: Target, watch: bool) -> str:
    if watch or t.legacy_watch:
        return "watch"
    if method == "GET":
        return "get" if t.name else "list"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(
        method, "delete" if t.name else "deletecollection"
    )


def _json(
    status: int,
    body: Any,
    headers: dict[str, str] | None = None,
    content_type: str = "application/json",
) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        headers=headers,
        media_type=content_type,
    )


class _ItemCache:
    """Serialised list items by (uid, resourceVersion): a version's JSON never changes."""

    def __init__(self, limit: int = 50_000) -> None:
        self._cache: dict[tuple[str, str], bytes] = {}
        self._limit = limit
        self._lock = threading.Lock()

    def encode_list(self, listing: dict[str, Any]) -> bytes:
        head = {k: v for k, v in listing.items() if k != "items"}
        parts: list[bytes] = []
        with self._lock:
            if len(self._cache) > self._limit:
                self._cache.clear()
            for item in listing["items"]:
                meta = item.get("metadata") or {}
                key = (str(meta.get("uid", "")), str(meta.get("resourceVersion", "")))
                encoded = self._cache.get(key) if key[0] else None
                if encoded is None:
                    encoded = json.dumps(item, separators=(",", ":")).encode()
                    if key[0]:
                        self._cache[key] = encoded
                parts.append(encoded)
        return (
            json.dumps(head, separators=(",", ":")).encode()[:-1]
            + b',"items":['
            + b",".join(parts)
            + b"]}"
        )


def _error_response(err: ApiError) -> Response:
    if err.plain_text:
        return PlainTextResponse(err.message + "\n", status_code=err.code, headers=err.headers)
    return _json(err.code, err.body(), err.headers)


def _wants_table(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    first = accept.split(",")[0]
    return "as=Table" in first


def _is_true(value: str | None) -> bool:
    return value in ("true", "1", "True")


class KubeApi:
    def __init__(self, state: ApiState) -> None:
        self.state = state
        self._items = _ItemCache()
        self.handlers = Handlers(
            state.store,
            state.clock,
            state.logs,
            state.reconcile,
            state.metrics_enabled,
            kube=state.kube,
        )
        state.faults._drop_watches = state.drop_watches
        state.faults._compact = state.store.compact
        self.app = Starlette(
            routes=[
                Route(
                    "/{path:path}", self.dispatch, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]
                ),
            ]
        )

    async def dispatch(self, request: Request) -> Response:
        call = _Call()
        path = request.url.path
        try:
            response = await self._dispatch(request, path, call)
        except ApiError as err:
            response = _error_response(err)
        except Exception as exc:  # noqa: BLE001 - a server answers 500, it does not crash
            response = _error_response(errors.internal(f"{type(exc).__name__}: {exc}"))
        self.state.requests.add(
            RequestRecord(
                request.method,
                path,
                request.url.query,
                response.status_code,
                call.verb,
                call.group,
                call.resource,
                call.subresource,
                call.namespace,
            )
        )
        return response

    async def _dispatch(self, request: Request, path: str, call: _Call) -> Response:
        if path in ("/healthz", "/livez", "/readyz"):
            return PlainTextResponse("ok")
        auth = request.headers.get("authorization", "")
        if auth != f"Bearer {self.state.token}":
            raise errors.unauthorized()
        if path.startswith("/kubesim/faults"):
            return await self._faults(request)
        if self.state.faults.latency > 0:
            await asyncio.sleep(self.state.faults.latency)
        segments = [unquote(s) for s in path.strip("/").split("/") if s]
        accept = request.headers.get("accept", "")
        if not segments:
            return _json(
                200,
                {"paths": ["/api", "/api/v1", "/apis", "/openapi/v2", "/openapi/v3", "/version"]},
            )
        head = segments[0]
        if head == "version" and len(segments) == 1:
            return _json(200, self.state.kube.document())
        if head == "openapi":
            return self._openapi(segments[1:], accept)
        if head == "api":
            if len(segments) == 1:
                return self._discovery_root(accept, legacy=True)
            if len(segments) == 2:
                doc = discovery.resource_list(
                    "", segments[1], self.state.metrics_enabled, self.state.kube
                )
                if doc is None:
                    raise errors.page_not_found()
                return _json(200, doc)
            return await self._resource(request, "", segments[1], segments[2:], call)
        if head == "apis":
            if len(segments) == 1:
                return self._discovery_root(accept, legacy=False)
            group = segments[1]
            if group == "metrics.k8s.io" and not self.state.metrics_enabled:
                raise errors.page_not_found()
            if len(segments) == 2:
                doc = discovery.api_group(group, self.state.metrics_enabled)
                if doc is None:
                    raise errors.page_not_found()
                return _json(200, doc)
            if len(segments) == 3:
                doc = discovery.resource_list(
                    group, segments[2], self.state.metrics_enabled, self.state.kube
                )
                if doc is None:
                    raise errors.page_not_found()
                return _json(200, doc)
            return await self._resource(request, group, segments[2], segments[3:], call)
        raise errors.page_not_found()

    # -- discovery and openapi -----------------------------------------------------------
    def _discovery_root(self, accept: str, legacy: bool) -> Response:
        for option in accept.split(","):
            option = option.replace(" ", "")
            # A 1.28 server serves aggregated discovery as v2beta1 only (v2 arrived in 1.30).
            offered = [(AGGREGATED_V2BETA1, "apidiscovery.k8s.io/v2beta1")]
            if self.state.kube.at_least(30):
                offered.insert(0, (AGGREGATED_V2, "apidiscovery.k8s.io/v2"))
            for mime, version in offered:
                if option.startswith(mime):
                    doc = discovery.aggregated(
                        legacy, self.state.metrics_enabled, version, self.state.kube
                    )
                    return _json(200, doc, content_type=mime)
            if (
                option.startswith("application/json")
                and ";" not in option
                or option.startswith("*/*")
            ):
                break
        if legacy:
            return _json(200, discovery.api_versions())
        return _json(200, discovery.api_group_list(self.state.metrics_enabled))

    def _openapi(self, rest: list[str], accept: str) -> Response:
        if rest == ["v2"]:
            if "protobuf" in accept:
                return Response(
                    openapi.v2_protobuf(),
                    media_type="application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
                )
            return Response(openapi.v2_document(), media_type="application/json")
        if rest == ["v3"]:
            return Response(openapi.v3_index(), media_type="application/json")
        if rest and rest[0] == "v3":
            doc = openapi.v3_document("/".join(rest[1:]))
            if doc is not None:
                return Response(
                    doc,
                    media_type="application/json",
                    headers={"Cache-Control": "public, immutable"},
                )
        raise errors.page_not_found()

    def _follow_log(self, t: Target, query: dict[str, str], first: HandlerResponse) -> Response:
        """follow=true: what is there, then new lines while the container runs (polled, since
        simulated processes write when the clock moves)."""
        state = self.state
        namespace, name = t.namespace or "", t.name or ""
        pod = state.store.get(t.rtype, namespace, name)
        container = podlogs.choose_container(pod, query.get("container"))
        stamps = _is_true(query.get("timestamps"))
        existing = state.logs.read(namespace, name, container) or []

        async def stream() -> AsyncIterator[bytes]:
            assert isinstance(first.body, bytes)
            yield first.body
            last = existing[-1] if existing else None
            while True:
                await asyncio.sleep(FOLLOW_POLL)
                current = state.store.find(t.rtype, namespace, name)
                lines = state.logs.read(namespace, name, container) or []
                fresh = podlogs.newer_lines(lines, last)
                if fresh:
                    last = fresh[-1]
                    yield podlogs.render(fresh, state.clock, stamps)
                if not podlogs.container_running(current, container):
                    return

        return StreamingResponse(stream(), media_type="text/plain")

    # -- faults admin --------------------------------------------------------------------
    async def _faults(self, request: Request) -> Response:
        faults = self.state.faults
        if request.method == "DELETE":
            faults.clear()
        elif request.method in ("POST", "PUT", "PATCH"):
            try:
                body = json.loads(await request.body() or b"{}")
            except ValueError as exc:
                raise errors.bad_request(f"invalid JSON: {exc}") from exc
            if not isinstance(body, dict):
                raise errors.bad_request("expected a JSON object")
            await run_in_threadpool(faults.configure, body)
        return JSONResponse(faults.state())

    # -- resources -----------------------------------------------------------------------
    async def _resource(
        self, request: Request, group: str, version: str, rest: list[str], call: _Call
    ) -> Response:
        t = parse(group, version, rest)
        resizable = t.rtype is PODS and self.state.kube.in_place_resize
        if t.subresource == "resize" and not resizable:
            # Before 1.33 (and on anything but pods) there is no such route: the server's
            # answer to an unknown subresource.
            raise errors.ApiError(
                404, "NotFound", "the server could not find the requested resource", {}
            )
        q = request.query_params
        watch = _is_true(q.get("watch")) or t.legacy_watch
        call.verb = _verb(request.method, t, watch)
        call.group, call.resource, call.subresource = group, t.rtype.plural, t.subresource
        call.namespace = t.namespace or ""
        if t.rtype in (POD_METRICS, NODE_METRICS) and request.method != "GET":
            raise errors.method_not_allowed()
        if not t.subresource and call.verb not in t.rtype.verbs:
            raise errors.method_not_allowed()
        injected = self.state.faults.check(call.verb, t.rtype.plural)
        if injected is not None:
            raise injected
        if watch:
            return await open_watch(
                self.state.store, self.state.clock, self.state.watches, request, t
            )
        dry_run = q.get("dryRun") == "All"
        strict = q.get("fieldValidation") == "Strict"
        if q.get("dryRun") and not dry_run:
            raise errors.bad_request(f"invalid dry run value: {q.get('dryRun')}")
        h = self.handlers
        method = request.method
        if method == "GET":
            lq = ListQuery(
                q.get("labelSelector"),
                q.get("fieldSelector"),
                int(errors.query_number(q.get("limit"), "limit")),
                q.get("continue"),
                q.get("resourceVersion"),
                q.get("resourceVersionMatch"),
            )
            if t.subresource == "log":
                result = await run_in_threadpool(h.log, t, dict(q))
                if _is_true(q.get("follow")) and result.status == 200:
                    return self._follow_log(t, dict(q), result)
                return _raw(result)
            if t.subresource == "scale":
                return _json(200, await run_in_threadpool(h.get_scale, t))
            if t.subresource == "resize":
                return _json(200, await run_in_threadpool(h.get, t))
            if t.rtype is POD_METRICS:
                return _json(200, await run_in_threadpool(h.metrics, t, lq))
            if t.rtype is NODE_METRICS:
                found = node_metrics(self.state.store, self.state.clock, t.name)
                if t.name is not None:
                    if not found:
                        raise errors.not_found("nodes", "metrics.k8s.io", t.name)
                    return _json(200, found[0])
                return _json(
                    200,
                    {
                        "kind": "NodeMetricsList",
                        "apiVersion": "metrics.k8s.io/v1beta1",
                        "metadata": {},
                        "items": found,
                    },
                )
            if t.name is None:
                listing = await run_in_threadpool(h.list_objects, t, lq)
                if _wants_table(request):
                    return _json(200, tables.table(t.rtype, listing, self.state.clock, request))
                body = await run_in_threadpool(self._items.encode_list, listing)
                return Response(body, media_type="application/json")
            obj = await run_in_threadpool(h.get, t)
            if _wants_table(request):
                return _json(
                    200,
                    tables.table(
                        t.rtype,
                        {
                            "metadata": {
                                "resourceVersion": obj["metadata"].get("resourceVersion", "")
                            },
                            "items": [obj],
                        },
                        self.state.clock,
                        request,
                    ),
                )
            return _json(200, obj)
        body = await _read_body(request)
        if method == "POST":
            return _respond(await run_in_threadpool(h.create, t, body, dry_run, strict))
        if method == "PUT":
            if t.name is None:
                raise errors.method_not_allowed()
            return _respond(await run_in_threadpool(h.update, t, body, dry_run, strict))
        if method == "PATCH":
            if t.name is None:
                raise errors.method_not_allowed()
            ctype = request.headers.get("content-type", "")
            return _respond(await run_in_threadpool(h.patch, t, body, ctype, dry_run, strict))
        # DELETE
        if t.subresource == "resize":
            raise errors.method_not_allowed()
        options: dict[str, Any] = body if isinstance(body, dict) else {}
        for key in ("gracePeriodSeconds", "propagationPolicy", "orphanDependents"):
            if key in q:
                value: Any = q[key]
                if key == "gracePeriodSeconds":
                    value = int(errors.query_number(value, key))
                elif key == "orphanDependents":
                    value = _is_true(value)
                options[key] = value
        if t.name is None:
            lq = ListQuery(q.get("labelSelector"), q.get("fieldSelector"))
            return _respond(await run_in_threadpool(h.delete_collection, t, lq, options, dry_run))
        return _respond(await run_in_threadpool(h.delete, t, options, dry_run))

    # -- watch ---------------------------------------------------------------------------


def _raw(result: HandlerResponse) -> Response:
    body = result.body
    if isinstance(body, bytes | str):
        if result.status == 204:
            return Response(status_code=204)
        return Response(body, status_code=result.status, media_type=result.content_type)
    return _json(result.status, body)


def _respond(result: HandlerResponse) -> Response:
    return _json(result.status, result.body)


async def _read_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return None
    ctype = request.headers.get("content-type", "")
    try:
        if "yaml" in ctype:
            return yaml.safe_load(raw)
        return json.loads(raw)
    except (ValueError, yaml.YAMLError) as exc:
        raise errors.bad_request(f"the body of the request could not be decoded: {exc}") from exc


__all__ = ["ApiState", "KubeApi"]
