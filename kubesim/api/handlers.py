"""The API verbs over the store: list, get, create, update, patch, delete, and subresources.

Everything here is synchronous and runs in a worker thread; the HTTP layer (`app.py`) parses
requests, streams watches and serialises responses.
"""

from __future__ import annotations

import base64
import bisect
import copy
import json
import posixpath
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from kubesim.api import (
    apps_workloads,
    defaults,
    disruption,
    errors,
    patch,
    podlogs,
    resize,
    storage,
    validation,
)
from kubesim.api.admission import admit as _admit
from kubesim.api.errors import ApiError
from kubesim.api.openapi import definition_for
from kubesim.api.paths import Target
from kubesim.api.selectors import (
    label_selector_from_dict,
    matches_labels,
    parse_field_selector,
    parse_label_selector,
)
from kubesim.clock import SimClock
from kubesim.logs import LogStore
from kubesim.store import (
    DEPLOYMENTS,
    NAMESPACES,
    NODES,
    POD_METRICS,
    PODS,
    REPLICASETS,
    RESOURCE_TYPES,
    Gone,
    ResourceType,
    Store,
    StoreError,
    TooLarge,
)
from kubesim.version import DEFAULT, KubeVersion

Obj = dict[str, Any]
# Kinds whose status is written only through /status (the main resource keeps it).
CONTINUE_EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this response "
    "to retrieve the remainder of the results. Continuing with the provided token results in an "
    "inconsistent list - objects that were created, modified, or deleted between the time the "
    "first chunk was returned and now may show up in the list."
)
STATUS_SUBRESOURCE = {"Pod", "Deployment", "ReplicaSet", "Namespace", "Node", "PodDisruptionBudget"}
STATUS_SUBRESOURCE |= apps_workloads.STATUS_KINDS
STATUS_SUBRESOURCE |= {"Job", "CronJob", "Service"}
STATUS_SUBRESOURCE |= {"PersistentVolumeClaim", "PersistentVolume"}


def store_error(exc: StoreError, rtype: ResourceType, name: str) -> ApiError:
    if exc.code == 404:
        return errors.not_found(rtype.plural, rtype.group, name)
    if exc.code == 409 and exc.reason == "AlreadyExists":
        return errors.already_exists(rtype.plural, rtype.group, name)
    if exc.code == 409:
        return errors.conflict(rtype.plural, rtype.group, name)
    if exc.code == 410:
        return errors.gone(str(exc))
    return errors.internal(str(exc))


@dataclass
class ListQuery:
    label_selector: str | None = None
    field_selector: str | None = None
    limit: int = 0
    continue_token: str | None = None
    resource_version: str | None = None
    resource_version_match: str | None = None


@dataclass
class Response:
    status: int
    body: Obj | list[Any] | str | bytes | None
    content_type: str = "application/json"


class Handlers:
    def __init__(
        self,
        store: Store,
        clock: SimClock,
        logs: LogStore,
        reconcile: Callable[[], None],
        metrics_enabled: bool = True,
        *,
        kube: KubeVersion = DEFAULT,
    ) -> None:
        self.kube = kube
        self.store = store
        self.clock = clock
        self.logs = logs
        self.reconcile = reconcile
        self.metrics_enabled = metrics_enabled
        # The last sorted listing (by type and namespace) with the resourceVersion it was read at.
        self._sorted: dict[tuple[ResourceType, str | None, int], list[tuple[str, Obj]]] = {}

    # -- reads ---------------------------------------------------------------------------
    def get(self, t: Target) -> Obj:
        assert t.name is not None
        try:
            return self.store.get(t.rtype, t.namespace or "", t.name)
        except StoreError as exc:
            raise store_error(exc, t.rtype, t.name) from exc

    def matcher(self, rtype: ResourceType, q: ListQuery) -> Callable[[Obj], bool]:
        labels = parse_label_selector(q.label_selector)
        fields = parse_field_selector(q.field_selector, rtype.kind)
        return lambda obj: matches_labels(labels, obj) and fields(obj)

    def list_objects(self, t: Target, q: ListQuery) -> Obj:
        """A list as the 1.28 server answers it. `resourceVersion=0` is served from the watch
        cache: everything, `limit` ignored. Otherwise from "etcd": pages of `limit` with a
        `continue` token (and `remainingItemCount` when unfiltered), every page at the first
        page's resourceVersion; `resourceVersionMatch=Exact` at the version asked for."""
        filtered = bool(q.label_selector or q.field_selector)
        match = self.matcher(t.rtype, q) if filtered else None  # 400 before 422, as decoded
        _check_list_options(q)
        token_rv: int | None = None
        start_key = ""
        if q.continue_token:
            start_key, token_rv = _decode_continue(q.continue_token)
        wanted = _resource_version(q.resource_version)
        limit = q.limit
        at: int | None = None  # a past version to read at (None: now)
        if token_rv is not None:
            at = token_rv
        elif q.resource_version_match == "Exact":
            at = wanted
        elif wanted == 0 and q.resource_version is not None and q.resource_version != "":
            limit = 0  # the watch cache answers RV=0 lists whole
        keyed = self._keyed(t, at, token=token_rv is not None)
        rv = at if at is not None else self.store.resource_version
        if wanted and at is None and wanted > rv:
            raise errors.too_large_resource_version(wanted, rv)
        prefix = _key_prefix(t)
        if start_key:
            keys = [prefix_key for prefix_key, _ in keyed]
            keyed = keyed[bisect.bisect_left(keys, prefix + start_key) :]
        meta: Obj = {"resourceVersion": str(rv)}
        refs: list[Obj] = []
        more = False
        for index, (key, obj) in enumerate(keyed):
            if match is not None and not match(obj):
                continue
            refs.append(obj)
            if limit and len(refs) == limit:
                more = index + 1 < len(keyed)
                if more:
                    meta["continue"] = _encode_continue(rv, key[len(prefix) :] + "\x00")
                    if not filtered:
                        meta["remainingItemCount"] = len(keyed) - index - 1
                break
        # Stored objects are never mutated in place (writes replace them), so shallow views are
        # safe to serialise; copying 10,000 pods per list would dominate the request.
        items = [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")} for o in refs]
        return {
            "kind": f"{t.rtype.kind}List",
            "apiVersion": t.rtype.api_version,
            "metadata": meta,
            "items": items,
        }

    def _keyed(self, t: Target, at: int | None, token: bool) -> list[tuple[str, Obj]]:
        """(etcd key, object) pairs sorted as etcd sorts its keys, now or at a past version."""
        with self.store.lock:
            rv = self.store.resource_version if at is None else at
            cached = self._sorted.get((t.rtype, t.namespace, rv))
            if cached is not None:
                return cached  # pages of an unchanged store: sort once
            try:
                pairs = (
                    self.store.keyed_refs(t.rtype, t.namespace)
                    if at is None or at == self.store.resource_version
                    else self.store.snapshot(t.rtype, t.namespace, at)
                )
            except Gone as exc:
                if token:
                    raise errors.gone(CONTINUE_EXPIRED) from exc
                raise errors.gone(str(exc)) from exc
            except TooLarge as exc:
                raise errors.too_large_resource_version(rv, self.store.resource_version) from exc
            keyed = [(_etcd_key(ns, name), obj) for (ns, name), obj in pairs]
            if t.namespace is None and t.rtype.namespaced:
                keyed.sort(key=lambda pair: pair[0])  # "ns/name" bytes, not (ns, name)
            if len(self._sorted) > 4:
                self._sorted.clear()
            self._sorted[(t.rtype, t.namespace, rv)] = keyed
            return keyed

    # -- writes --------------------------------------------------------------------------
    def _check_namespace(self, rtype: ResourceType, namespace: str | None) -> None:
        if rtype.namespaced and namespace and self.store.find(NAMESPACES, "", namespace) is None:
            raise errors.not_found("namespaces", "", namespace)

    def create(self, t: Target, body: Any, dry_run: bool, strict: bool = False) -> Response:
        if t.subresource == "eviction":
            return self.evict(t, body, dry_run)
        if t.name is not None or t.subresource:
            raise errors.method_not_allowed()
        obj = _as_object(body)
        validation.check_kind(t.rtype, obj)
        if strict:
            validation.check_strict(t.rtype, obj)
        meta = obj.setdefault("metadata", {})
        if t.rtype.namespaced:
            body_ns = meta.get("namespace")
            if body_ns and t.namespace and body_ns != t.namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"  # noqa: E501
                )
            meta["namespace"] = t.namespace or body_ns or "default"
        else:
            meta.pop("namespace", None)
        for owned in (
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "managedFields",
        ):
            meta.pop(owned, None)
        validation.validate(t.rtype, obj, self.kube)
        self._check_namespace(t.rtype, meta.get("namespace"))
        obj["apiVersion"] = t.rtype.api_version
        obj["kind"] = t.rtype.kind
        defaults.apply_defaults(t.rtype.kind, obj, self.kube)
        storage.admit(self.store, t.rtype, obj)
        status = defaults.initial_status(t.rtype.kind, obj)
        if status is not None:
            obj["status"] = status
        if dry_run:
            if not meta.get("name"):
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
            existing = self.store.find(t.rtype, meta.get("namespace", ""), meta["name"])
            if existing is not None:
                raise errors.already_exists(t.rtype.plural, t.rtype.group, meta["name"])
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = self.clock.rfc3339()
            if t.rtype in (DEPLOYMENTS, REPLICASETS):
                meta["generation"] = 1
            return Response(201, obj)
        try:
            keep = _admit(self.store, t.rtype, obj, None)
            created = self.store.create(t.rtype, obj, keep_metadata=keep)
        except StoreError as exc:
            raise store_error(exc, t.rtype, meta.get("name", "")) from exc
        self.reconcile()
        return Response(201, created)  # as written: a real server answers before controllers act

    def _prepare_update(self, t: Target, current: Obj, new: Obj) -> Obj:
        """Merge server-owned parts of `current` into a client's full replacement `new`."""
        assert t.name is not None
        validation.check_kind(t.rtype, new)
        meta = new.setdefault("metadata", {})
        sent = meta.get("resourceVersion")
        if sent and sent != current["metadata"].get("resourceVersion"):
            raise errors.conflict(t.rtype.plural, t.rtype.group, t.name)
        if meta.get("name") and meta["name"] != t.name:
            raise errors.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL ({t.name})"  # noqa: E501
            )
        meta["name"] = t.name
        if t.rtype.namespaced:
            meta["namespace"] = current["metadata"].get("namespace", "")
        new["apiVersion"] = t.rtype.api_version
        new["kind"] = t.rtype.kind
        for owned in (
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ):
            if owned in current["metadata"]:
                meta[owned] = current["metadata"][owned]
            else:
                meta.pop(owned, None)
        if t.subresource == "status":
            result = copy.deepcopy(current)
            result["status"] = new.get("status")
            if "resourceVersion" in meta:
                result["metadata"]["resourceVersion"] = meta["resourceVersion"]
            else:
                result["metadata"].pop("resourceVersion", None)
            return result
        if t.rtype.kind in STATUS_SUBRESOURCE:
            if "status" in current:
                new["status"] = current["status"]
            else:
                new.pop("status", None)
        validation.validate(t.rtype, new, self.kube)
        defaults.apply_defaults(t.rtype.kind, new, self.kube)
        apps_workloads.prepare_update(t.rtype.kind, current, new)
        _admit(self.store, t.rtype, new, current)
        if t.rtype is PODS:
            _check_pod_update(current, new)
        return new

    def _write(self, t: Target, obj: Obj, dry_run: bool, check_version: bool = True) -> Obj:
        assert t.name is not None
        if dry_run:
            current = self.store.get(t.rtype, t.namespace or "", t.name)
            sent = obj["metadata"].get("resourceVersion")
            if check_version and sent and sent != current["metadata"]["resourceVersion"]:
                raise errors.conflict(t.rtype.plural, t.rtype.group, t.name)
            return obj
        try:
            return self.store.update(t.rtype, obj, check_version=check_version)
        except StoreError as exc:
            raise store_error(exc, t.rtype, t.name) from exc

    def update(self, t: Target, body: Any, dry_run: bool, strict: bool = False) -> Response:
        assert t.name is not None
        new = _as_object(body)
        if strict and t.subresource != "scale":
            validation.check_strict(t.rtype, new)
        if t.subresource == "scale":
            return self.update_scale(t, lambda _scale: new, dry_run)
        if t.subresource == "resize":
            return self.resize(t, lambda _current: new, dry_run)
        with self.store.lock:
            current = self.get(t)
            obj = self._prepare_update(t, current, new)  # no resourceVersion: unconditional
            written = self._write(t, obj, dry_run)
        if not dry_run:
            self.reconcile()
        return Response(200, written)

    def patch(
        self, t: Target, body: Any, content_type: str, dry_run: bool, strict: bool = False
    ) -> Response:
        assert t.name is not None
        if t.subresource == "scale":
            return self.update_scale(
                t,
                lambda scale: patch.apply_patch(
                    scale, body, content_type, "io.k8s.api.autoscaling.v1.Scale"
                ),
                dry_run,
            )
        if t.subresource == "resize":
            if strict and isinstance(body, dict):
                validation.check_strict(t.rtype, body)
            return self.resize(
                t,
                lambda current: patch.apply_patch(
                    current, body, content_type, definition_for(t.rtype)
                ),
                dry_run,
            )
        is_apply = content_type.split(";")[0].strip() == patch.APPLY
        if is_apply and self.store.find(t.rtype, t.namespace or "", t.name) is None:
            # outside the store lock: create() reconciles, and controllers take the lock in turn
            return self.create(Target(t.rtype, t.namespace, None), body, dry_run, strict)
        with self.store.lock:
            current = self.get(t)
            if strict and isinstance(body, dict):
                validation.check_strict(t.rtype, body)  # the fields the client sent
            patched = patch.apply_patch(current, body, content_type, definition_for(t.rtype))
            obj = self._prepare_update(t, current, patched)
            written = self._write(t, obj, dry_run)
        if not dry_run:
            self.reconcile()
        return Response(200, written)

    # -- pods/resize (1.33+) ---------------------------------------------------------------
    def resize(self, t: Target, change: Callable[[Obj], Any], dry_run: bool) -> Response:
        """PUT / PATCH of pods/resize: the containers' resources change, nothing else."""
        assert t.name is not None and t.rtype is PODS
        with self.store.lock:
            current = self.get(t)
            sent = _as_object(change(copy.deepcopy(current)))
            validation.check_kind(t.rtype, sent)
            meta = sent.get("metadata") or {}
            version = meta.get("resourceVersion")
            if version and version != current["metadata"].get("resourceVersion"):
                raise errors.conflict(t.rtype.plural, t.rtype.group, t.name)
            new = resize.merge(current, sent)
            if len(new["spec"].get("containers") or []) == len(
                current["spec"].get("containers") or []
            ):
                defaults.pod_spec(new["spec"], pod=True, kube=self.kube)
                validation.validate(t.rtype, new, self.kube)
            resize.validate(current, new, self.kube)
            if version:
                new["metadata"]["resourceVersion"] = version
            else:
                new["metadata"].pop("resourceVersion", None)
            written = self._write(t, new, dry_run, check_version=bool(version))
        if not dry_run:
            self.reconcile()
        return Response(200, written)

    # -- scale ---------------------------------------------------------------------------
    def scale_of(self, obj: Obj) -> Obj:
        meta = obj["metadata"]
        selector = label_selector_from_dict((obj.get("spec") or {}).get("selector"))
        sel_text = ",".join(
            f"{r.key}={r.values[0]}" if r.op == "=" else f"{r.key} {r.op} ({','.join(r.values)})"
            for r in selector
        )
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                k: meta[k]
                for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                if k in meta
            },
            "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
            "status": {
                "replicas": (obj.get("status") or {}).get("replicas", 0),
                "selector": sel_text,
            },
        }

    def get_scale(self, t: Target) -> Obj:
        return self.scale_of(self.get(t))

    def update_scale(self, t: Target, change: Callable[[Obj], Any], dry_run: bool) -> Response:
        with self.store.lock:
            current = self.get(t)
            scale = change(self.scale_of(current))
            if not isinstance(scale, dict):
                raise errors.bad_request("the body of the request is not a Scale")
            replicas = (scale.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or replicas < 0:
                raise errors.invalid(
                    "Scale",
                    "autoscaling",
                    t.name or "",
                    [
                        (
                            "FieldValueInvalid",
                            "spec.replicas",
                            f"Invalid value: {replicas}: must be greater than or equal to 0",
                        )
                    ],
                )
            obj = copy.deepcopy(current)
            obj["spec"]["replicas"] = replicas
            sent = (scale.get("metadata") or {}).get("resourceVersion")
            obj["metadata"]["resourceVersion"] = sent or current["metadata"]["resourceVersion"]
            written = self._write(t, obj, dry_run)
        if not dry_run:
            self.reconcile()
        return Response(200, self.scale_of(written))

    # -- delete --------------------------------------------------------------------------
    def delete(self, t: Target, options: Obj, dry_run: bool) -> Response:
        assert t.name is not None
        policy, grace = _delete_options(options)
        precondition = options.get("preconditions") or {}
        with self.store.lock:
            current = self.get(t)
            _check_preconditions(t.rtype, t.name, precondition, current)
            result = self._delete_object(t.rtype, current, policy, grace, dry_run)
        if not dry_run:
            self.reconcile()
        return Response(200, result)

    def _delete_object(
        self, rtype: ResourceType, obj: Obj, policy: str | None, grace: Any, dry_run: bool
    ) -> Obj:
        meta = obj["metadata"]
        namespace = meta.get("namespace", "")
        if rtype is NAMESPACES:
            return self._delete_namespace(obj, dry_run)
        if policy == "Orphan":
            if not dry_run:
                self._orphan(meta["uid"], namespace)
        elif policy == "Foreground":
            if not dry_run:
                self._cascade(meta["uid"], namespace, "Foreground")
            obj = copy.deepcopy(obj)
            obj["metadata"].setdefault("deletionTimestamp", self.clock.rfc3339())
            obj["metadata"]["deletionGracePeriodSeconds"] = 0
            obj["metadata"]["finalizers"] = ["foregroundDeletion"]
        if rtype is PODS:
            return self._delete_pod(obj, grace, dry_run, cascade=policy != "Orphan")
        if meta.get("finalizers") and policy != "Foreground":
            marked = copy.deepcopy(obj)
            marked["metadata"].setdefault("deletionTimestamp", self.clock.rfc3339())
            marked["metadata"]["deletionGracePeriodSeconds"] = 0
            return marked if dry_run else self.store.update(rtype, marked, check_version=False)
        if dry_run:
            return obj
        deleted = self.store.delete(rtype, namespace, meta["name"])
        if policy in (None, "Background"):
            self._cascade(meta["uid"], namespace, "Background")
        return obj if policy == "Foreground" else deleted

    def _delete_pod(self, pod: Obj, grace: Any, dry_run: bool, cascade: bool) -> Obj:
        meta = pod["metadata"]
        spec = pod.get("spec") or {}
        phase = (pod.get("status") or {}).get("phase")
        if grace is None:
            grace = meta.get(
                "deletionGracePeriodSeconds", spec.get("terminationGracePeriodSeconds", 30)
            )
        grace = int(grace)
        immediate = grace <= 0 or not spec.get("nodeName") or phase in ("Succeeded", "Failed")
        if immediate:
            if dry_run:
                return pod
            deleted = self.store.delete(PODS, meta.get("namespace", ""), meta["name"])
            self.logs.drop_pod(meta.get("namespace", ""), meta["name"])
            return deleted
        # Graceful: mark it; the kubelet stops the containers and removes the pod.
        marked = copy.deepcopy(pod)
        deadline = self.clock.now() + timedelta(seconds=grace)
        current_deadline = meta.get("deletionTimestamp")
        new_deadline = deadline.strftime("%Y-%m-%dT%H:%M:%SZ")
        if current_deadline and current_deadline <= new_deadline:
            return pod
        marked["metadata"]["deletionTimestamp"] = new_deadline
        marked["metadata"]["deletionGracePeriodSeconds"] = grace
        if dry_run:
            return marked
        return self.store.update(PODS, marked, check_version=False)

    def _dependents(self, owner_uid: str, namespace: str) -> list[tuple[ResourceType, Obj]]:
        found: list[tuple[ResourceType, Obj]] = []
        for rtype in RESOURCE_TYPES:
            if not rtype.namespaced or rtype is POD_METRICS:
                continue
            for obj in self.store.iter_refs(rtype, namespace):
                refs = obj["metadata"].get("ownerReferences") or []
                if any(r.get("uid") == owner_uid for r in refs):
                    found.append((rtype, obj))
        return found

    def _cascade(self, owner_uid: str, namespace: str, policy: str) -> None:
        for rtype, dep in self._dependents(owner_uid, namespace):
            current = self.store.find(rtype, namespace, dep["metadata"]["name"])
            if current is None:
                continue
            others = [
                r
                for r in current["metadata"].get("ownerReferences") or []
                if r.get("uid") != owner_uid
            ]
            if others:  # still owned by someone alive: just drop the reference
                current["metadata"]["ownerReferences"] = others
                self.store.update(rtype, current, check_version=False)
                continue
            self._delete_object(rtype, current, policy, None, dry_run=False)

    def _orphan(self, owner_uid: str, namespace: str) -> None:
        for rtype, dep in self._dependents(owner_uid, namespace):

            def drop(obj: Obj) -> None:
                refs = [
                    r
                    for r in obj["metadata"].get("ownerReferences") or []
                    if r.get("uid") != owner_uid
                ]
                if refs:
                    obj["metadata"]["ownerReferences"] = refs
                else:
                    obj["metadata"].pop("ownerReferences", None)

            self.store.mutate(rtype, namespace, dep["metadata"]["name"], drop)

    def _delete_namespace(self, ns: Obj, dry_run: bool) -> Obj:
        name = ns["metadata"]["name"]
        if dry_run:
            marked = copy.deepcopy(ns)
            marked["metadata"]["deletionTimestamp"] = self.clock.rfc3339()
            marked["status"] = {"phase": "Terminating"}
            return marked
        for rtype in RESOURCE_TYPES:
            if rtype.namespaced:
                for obj in list(self.store.iter_refs(rtype, name)):
                    try:
                        self.store.delete(rtype, name, obj["metadata"]["name"])
                    except StoreError:
                        pass
        return self.store.delete(NAMESPACES, "", name)

    def delete_collection(self, t: Target, q: ListQuery, options: Obj, dry_run: bool) -> Response:
        match = self.matcher(t.rtype, q)
        policy, grace = _delete_options(options)
        with self.store.lock:
            targets = [o for o in self.store.list(t.rtype, t.namespace) if match(o)]
            deleted = [self._delete_object(t.rtype, o, policy, grace, dry_run) for o in targets]
        if not dry_run:
            self.reconcile()
        return Response(
            200,
            {
                "kind": f"{t.rtype.kind}List",
                "apiVersion": t.rtype.api_version,
                "metadata": {"resourceVersion": str(self.store.resource_version)},
                "items": [_without_type(o) for o in deleted],
            },
        )

    # -- pods/eviction -------------------------------------------------------------------
    def evict(self, t: Target, body: Any, dry_run: bool) -> Response:
        assert t.name is not None and t.rtype is PODS
        eviction = _as_object(body)
        with self.store.lock:
            pod = self.get(t)
            blocked = disruption.blocking_budget(self.store, pod)
            if blocked is not None:
                name, desired, healthy = blocked
                cause = {
                    "reason": "DisruptionBudget",
                    "message": f"The disruption budget {name} needs {desired} healthy pods and "
                    f"has {healthy} currently",
                }
                raise ApiError(
                    429,
                    "TooManyRequests",
                    "Cannot evict pod as it would violate the pod's disruption budget.",
                    {"causes": [cause]},
                )
            options = eviction.get("deleteOptions") or {}
            self._delete_pod(pod, options.get("gracePeriodSeconds"), dry_run, cascade=True)
        if not dry_run:
            self.reconcile()
        success = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
        return Response(201, {**success, "code": 201})

    # -- pods/log ------------------------------------------------------------------------
    def log(self, t: Target, query: dict[str, str]) -> Response:
        pod = self.get(t)
        node_name = (pod.get("spec") or {}).get("nodeName")
        node = self.store.find(NODES, "", node_name) if node_name else None
        body = podlogs.read_log(pod, self.logs, self.clock, query, node)
        if body is None:
            return Response(204, b"", "text/plain")
        return Response(200, body, "text/plain")

    # -- metrics.k8s.io ------------------------------------------------------------------
    def metrics(self, t: Target, q: ListQuery) -> Obj:
        if t.name:
            obj = self.get(t)
            obj.setdefault("metadata", {})
            return obj
        listing = self.list_objects(t, q)
        listing["kind"] = "PodMetricsList"
        listing["metadata"] = {"resourceVersion": ""}
        listing["items"] = [
            {"kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1", **i}
            for i in listing["items"]
        ]
        return listing


def _delete_options(options: Obj) -> tuple[str | None, int | None]:
    """(propagationPolicy, gracePeriodSeconds) from DeleteOptions, refused as the server does."""
    policy = options.get("propagationPolicy")
    if options.get("orphanDependents") is True:
        policy = "Orphan"
    if policy not in (None, "Orphan", "Background", "Foreground"):
        raise errors.invalid(
            "DeleteOptions",
            "meta.k8s.io",
            "",
            [
                (
                    "FieldValueNotSupported",
                    "propagationPolicy",
                    f'Unsupported value: "{policy}": supported values: "Foreground", "Background", '
                    '"Orphan", "nil"',
                )
            ],
        )
    grace = options.get("gracePeriodSeconds")
    if grace is not None and (isinstance(grace, bool) or not isinstance(grace, int) or grace < 0):
        raise errors.bad_request(f"invalid gracePeriodSeconds: {grace!r}")
    return policy, grace


def _check_preconditions(rtype: ResourceType, name: str, precondition: Obj, current: Obj) -> None:
    """DeleteOptions.preconditions: uid first, then resourceVersion (409 naming the Kind)."""
    meta = current["metadata"]
    for what, key in (("UID", "uid"), ("ResourceVersion", "resourceVersion")):
        sent = precondition.get(key)
        if sent and str(sent) != str(meta.get(key, "")):
            raise errors.precondition_failed(rtype.kind, name, what, str(sent), str(meta.get(key)))


def _check_pod_update(current: Obj, new: Obj) -> None:
    """Pods are mostly immutable: only images, tolerations (added) and a few fields may change."""

    def mutable_view(spec: Obj) -> Obj:
        view = copy.deepcopy(spec)
        for c in view.get("containers") or []:
            c.pop("image", None)
        for c in view.get("initContainers") or []:
            c.pop("image", None)
        for key in (
            "activeDeadlineSeconds",
            "tolerations",
            "terminationGracePeriodSeconds",
            "schedulingGates",
            "nodeName",
        ):
            view.pop(key, None)
        return view

    old_spec = current.get("spec") or {}
    new_spec = new.get("spec") or {}
    if mutable_view(old_spec) != mutable_view(new_spec):
        name = new["metadata"]["name"]
        message = (
            "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
            "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
            "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
            "(allow it to be set to 1 if it was previously negative)"
        )
        raise errors.invalid("Pod", "", name, [("FieldValueForbidden", "spec", message)])
    if old_spec.get("nodeName") and new_spec.get("nodeName") != old_spec.get("nodeName"):
        raise errors.invalid(
            "Pod",
            "",
            new["metadata"]["name"],
            [("FieldValueForbidden", "spec.nodeName", "Forbidden: field is immutable")],
        )


def _without_type(obj: Obj) -> Obj:
    return {k: copy.deepcopy(v) for k, v in obj.items() if k not in ("kind", "apiVersion")}


def _as_object(body: Any) -> Obj:
    if not isinstance(body, dict):
        raise errors.bad_request("the body of the request was not a JSON object")
    return body


def _etcd_key(namespace: str, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name


def _key_prefix(t: Target) -> str:
    """The part of an etcd key a list ranges under, which continue tokens leave out."""
    return f"{t.namespace}/" if t.rtype.namespaced and t.namespace else ""


def _resource_version(text: str | None) -> int:
    if text in (None, ""):
        return 0
    try:
        value = int(str(text))
    except ValueError as exc:
        raise errors.bad_request(f"invalid resource version: {text}") from exc
    if value < 0:
        raise errors.bad_request(f"invalid resource version: {text}")
    return value


def _check_list_options(q: ListQuery) -> None:
    """ValidateListOptions: resourceVersionMatch needs a resourceVersion and no continue."""
    match = q.resource_version_match
    if not match:
        return
    problems: list[tuple[str, str, str]] = []
    forbidden = "FieldValueForbidden"
    if not q.resource_version:
        problems.append(
            (
                forbidden,
                "resourceVersionMatch",
                "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided",
            )
        )
    if q.continue_token:
        problems.append(
            (
                forbidden,
                "resourceVersionMatch",
                "Forbidden: resourceVersionMatch is forbidden when continue is provided",
            )
        )
    if match not in ("Exact", "NotOlderThan"):
        problems.append(
            (
                "FieldValueNotSupported",
                "resourceVersionMatch",
                f'Unsupported value: "{match}": supported values: "Exact", "NotOlderThan", ""',
            )
        )
    if match == "Exact" and q.resource_version == "0":
        problems.append(
            (
                forbidden,
                "resourceVersionMatch",
                'Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"',
            )
        )
    if problems:
        raise errors.invalid("ListOptions", "meta.k8s.io", "", problems)


def _encode_continue(rv: int, start: str) -> str:
    """storage.EncodeContinue: base64url (no padding) of {"v","rv","start"} as Go marshals it."""
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


_B64URL = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _go_raw_urlsafe_b64decode(token: str) -> bytes:
    """base64.RawURLEncoding.DecodeString, failing with Go's error text and byte offset."""
    data = token.encode("latin-1", "replace")
    kept: list[str] = []
    for offset, byte in enumerate(data):
        char = chr(byte)
        if char in "\r\n":
            continue
        if char not in _B64URL:
            raise ValueError(f"illegal base64 data at input byte {offset}")
        kept.append(char)
    if len(kept) % 4 == 1:
        raise ValueError(f"illegal base64 data at input byte {len(data) - 1}")
    text = "".join(kept)
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _decode_continue(token: str) -> tuple[str, int]:
    """storage.DecodeContinue: (start key below the list's prefix, resourceVersion); 400
    BadRequest `invalid continue token: ...` as the server words each failure."""

    def bad(reason: str) -> ApiError:
        return errors.bad_request(f"invalid continue token: {reason}")

    try:
        raw = _go_raw_urlsafe_b64decode(token)
    except ValueError as exc:
        raise bad(f"continue key is not valid: {exc}") from exc
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise bad(f"continue key is not valid: {_go_json_error(raw)}") from exc
    if not isinstance(data, dict):
        raise bad(
            "continue key is not valid: json: cannot unmarshal "
            f"{_go_json_type(data)} into Go value of type storage.continueToken"
        )
    version = data.get("v")
    if version != "meta.k8s.io/v1":
        raise bad(
            "continue key is not valid server does not recognize this encoded version "
            + json.dumps(version if isinstance(version, str) else "")
        )
    rv = data.get("rv")
    if not isinstance(rv, int) or isinstance(rv, bool) or rv == 0:
        raise bad(
            "continue key is not valid: incorrect encoded start resourceVersion "
            "(version meta.k8s.io/v1)"
        )
    start = data.get("start")
    if not isinstance(start, str) or not start:
        raise bad("continue key is not valid: encoded start key empty")
    key = start if start.startswith("/") else "/" + start
    if posixpath.normpath(key) != key:
        raise bad(f"continue key is not valid: {start}")
    return key[1:], rv


def _go_json_type(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if value is None:
        return "null"
    return "number"


def _go_json_error(raw: bytes) -> str:
    """encoding/json's syntax error for the first byte it cannot take."""
    text = raw.decode("utf-8", "replace").lstrip(" \t\r\n")
    if not text:
        return "unexpected end of JSON input"
    first = text[0]
    shown = repr(first) if first != "'" else "'\\''"
    return f"invalid character {shown} looking for beginning of value"
