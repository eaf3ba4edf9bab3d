"""KubeSim: the simulated cluster as one object (store, clock, controllers, HTTP API)."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import secrets
import socket
import tempfile
import threading
import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn
import yaml

from kubesim import kubeconfig, tls
from kubesim.api import ApiState, Faults, KubeApi, RequestRecord
from kubesim.api.errors import ApiError
from kubesim.api.handlers import Handlers
from kubesim.api.paths import Target
from kubesim.api.podlogs import KUBELET_UNREACHABLE
from kubesim.api.services import kubernetes_service
from kubesim.clock import SimClock
from kubesim.controllers import ControllerManager
from kubesim.controllers.nodelifecycle import NODE_READY
from kubesim.controllers.volumes import standard_class
from kubesim.logs import LogStore
from kubesim.store import (
    NAMESPACES,
    NODES,
    RESOURCE_TYPES,
    SERVICES,
    STORAGECLASSES,
    ResourceType,
    Store,
    StoreError,
)
from kubesim.version import DEFAULT, KubeVersion, kube_version

log = logging.getLogger("kubesim")

Obj = dict[str, Any]
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# Order in which recorded objects are loaded, so owners exist before what they own.
_LOAD_ORDER = (
    "Namespace",
    "Node",
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "ControllerRevision",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Pod",
)


class KubeSimError(Exception):
    """A manifest kubesim cannot apply or a lifecycle misuse."""


def node_object(
    name: str,
    cpu: str = "4",
    memory: str = "8Gi",
    pods: str = "110",
    index: int = 1,
    kube: KubeVersion = DEFAULT,
) -> Obj:
    """A Ready node with the given allocatable resources, running the kubelet of `kube`."""
    resources = {"cpu": cpu, "memory": memory, "pods": pods, "ephemeral-storage": "100Gi"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/arch": "amd64",
            },
        },
        "spec": {"podCIDR": f"10.244.{index}.0/24", "podCIDRs": [f"10.244.{index}.0/24"]},
        "status": {
            "capacity": dict(resources),
            "allocatable": dict(resources),
            "conditions": [
                {"type": t, "status": "False", "reason": r, "message": m}
                for t, r, m in (
                    (
                        "MemoryPressure",
                        "KubeletHasSufficientMemory",
                        "kubelet has sufficient memory available",
                    ),
                    ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                    (
                        "PIDPressure",
                        "KubeletHasSufficientPID",
                        "kubelet has sufficient PID available",
                    ),
                )
            ]
            + [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                }
            ],
            "addresses": [
                {"type": "InternalIP", "address": f"172.18.0.{index + 1}"},
                {"type": "Hostname", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": secrets.token_hex(16),
                "systemUUID": secrets.token_hex(16),
                "bootID": secrets.token_hex(16),
                "kernelVersion": "6.1.0-kubesim",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "containerRuntimeVersion": "containerd://1.7.13",
                "kubeletVersion": kube.git_version,
                "kubeProxyVersion": kube.git_version,
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    }


def _node_from_spec(spec: Obj | str, index: int, kube: KubeVersion = DEFAULT) -> Obj:
    if isinstance(spec, str):
        return node_object(spec, index=index, kube=kube)
    if spec.get("kind") == "Node":
        return copy.deepcopy(spec)
    return node_object(
        str(spec["name"]),
        str(spec.get("cpu", "4")),
        str(spec.get("memory", "8Gi")),
        str(spec.get("pods", "110")),
        index=index,
        kube=kube,
    )


def _version(value: str | KubeVersion) -> KubeVersion:
    try:
        return kube_version(value)
    except ValueError as exc:
        raise KubeSimError(str(exc)) from exc


def rtype_for(api_version: str, kind: str) -> ResourceType:
    for rt in RESOURCE_TYPES:
        if rt.api_version == api_version and rt.kind == kind:
            return rt
    raise KubeSimError(f"kubesim does not serve {kind} in {api_version}")


def parse_manifests(manifest: Obj | list[Obj] | str) -> list[Obj]:
    """A dict, a list of dicts (or List kinds), or YAML text (multi-document)."""
    if isinstance(manifest, str):
        docs = [d for d in yaml.safe_load_all(manifest) if d]
    elif isinstance(manifest, dict):
        docs = [manifest]
    else:
        docs = list(manifest)
    out: list[Obj] = []
    for doc in docs:
        if not isinstance(doc, dict):
            raise KubeSimError(f"not a Kubernetes object: {doc!r}")
        if doc.get("kind", "").endswith("List") and "items" in doc:
            out.extend(parse_manifests(list(doc["items"])))
        else:
            out.append(doc)
    return out


class KubeSim:
    """A simulated Kubernetes cluster speaking the real REST API on 127.0.0.1.

    speed=0: the clock only moves through `advance()`; speed>0: simulated seconds per wall
    second, with a background ticker reconciling the controllers. `kube_version` ("1.28",
    "1.33", "1.35") is the Kubernetes version it presents; from 1.33 pods resize in place.
    `default_storage_class`: seed kind's default StorageClass `standard` (rancher.io/local-path,
    WaitForFirstConsumer); without it claims that name no class stay Pending.
    """

    def __init__(
        self,
        speed: float = 0.0,
        port: int = 0,
        nodes: Iterable[Obj | str] | None = None,
        *,
        kubeconfig_path: str | Path | None = None,
        token: str | None = None,
        metrics: bool = True,
        start: datetime | None = None,
        tick: float = 0.05,
        kube_version: str | KubeVersion = DEFAULT,
        default_storage_class: bool = True,
    ) -> None:
        self.kube_version = _version(kube_version)
        self.clock = SimClock(start=start, speed=speed)
        self.store = Store(self.clock)
        self.logs = LogStore()
        self.controllers = ControllerManager(
            self.store, self.clock, self.logs, kube=self.kube_version
        )
        self.token = token or secrets.token_urlsafe(24)
        self._cert = tls.serving_cert()
        self._port = port
        self._speed = speed
        self._tick = tick
        self._kubeconfig_arg = Path(kubeconfig_path) if kubeconfig_path else None
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        self._reconcile_lock = threading.RLock()
        self._state = ApiState(
            self.store,
            self.clock,
            self.logs,
            self.token,
            self._reconcile_quietly,
            metrics_enabled=metrics,
            kube=self.kube_version,
        )
        self._api = KubeApi(self._state)
        self._server: uvicorn.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ticker: threading.Thread | None = None
        self._stopping = threading.Event()
        self.kubeconfig_path: Path | None = None
        self.url = ""
        self.controller_errors: list[BaseException] = []
        self._seed(nodes)
        if default_storage_class:
            self._handlers.create(Target(STORAGECLASSES, None, None), standard_class(), False)

    # -- cluster contents ----------------------------------------------------------------
    def _seed(self, nodes: Iterable[Obj | str] | None) -> None:
        for name in DEFAULT_NAMESPACES:
            self._handlers.create(
                Target(NAMESPACES, None, None), {"metadata": {"name": name}}, False
            )
        self._handlers.create(Target(SERVICES, "default", None), kubernetes_service(), False)
        specs = list(nodes) if nodes is not None else ["kubesim-node-1", "kubesim-node-2"]
        for i, spec in enumerate(specs, start=1):
            # registered and Ready
            self.store.create(NODES, _node_from_spec(spec, i, self.kube_version))

    @property
    def _handlers(self) -> Handlers:
        return self._api.handlers

    @property
    def faults(self) -> Faults:
        return self._state.faults

    @property
    def requests(self) -> list[RequestRecord]:
        return self._state.requests.snapshot()

    def reset_requests(self) -> None:
        self._state.requests.clear()

    @property
    def port(self) -> int:
        return self._port

    # -- controllers ---------------------------------------------------------------------
    def settle(self) -> None:
        """Reconcile the controllers at the current simulated time."""
        with self._reconcile_lock:
            self.controllers.reconcile()

    def _reconcile_quietly(self) -> None:
        # Called after API writes: a controller bug must not turn a stored write into a 500.
        try:
            self.settle()
        except Exception as exc:  # noqa: BLE001
            log.exception("controller reconcile failed")
            self.controller_errors.append(exc)

    def advance(self, seconds: float, step: float = 1.0) -> None:
        """Move the clock forward in steps, reconciling after each one."""
        if seconds < 0:
            raise ValueError("the clock does not run backwards")
        if step <= 0:
            raise ValueError("step must be positive")
        remaining = seconds
        self.settle()
        while remaining > 1e-9:
            delta = min(step, remaining)
            self.clock.advance(delta)
            remaining -= delta
            self.settle()

    # -- objects -------------------------------------------------------------------------
    def apply(self, manifest: Obj | list[Obj] | str, namespace: str = "default") -> list[Obj]:
        """Create or replace each object as `kubectl apply` would, then settle."""
        results: list[Obj] = []
        for doc in parse_manifests(manifest):
            rtype = rtype_for(doc.get("apiVersion", ""), doc.get("kind", ""))
            obj = copy.deepcopy(doc)
            meta = obj.setdefault("metadata", {})
            ns = (meta.get("namespace") or namespace) if rtype.namespaced else None
            if rtype.namespaced:
                meta["namespace"] = ns
            applied = copy.deepcopy(doc)
            applied.setdefault("metadata", {}).setdefault("annotations", {})
            if rtype.namespaced:
                applied["metadata"]["namespace"] = ns
            meta.setdefault("annotations", {})[LAST_APPLIED] = (
                json.dumps(applied, separators=(",", ":"), sort_keys=True) + "\n"
            )
            name = meta.get("name")
            current = self.store.find(rtype, ns or "", name) if name else None
            try:
                if current is None:
                    written = self._handlers.create(Target(rtype, ns, None), obj, False).body
                else:
                    merged = copy.deepcopy(current)
                    merged["metadata"]["labels"] = meta.get("labels") or {}
                    annotations = dict(current["metadata"].get("annotations") or {})
                    annotations.update(meta["annotations"])
                    merged["metadata"]["annotations"] = annotations
                    for key, value in obj.items():
                        if key not in ("metadata", "status", "apiVersion", "kind"):
                            merged[key] = value
                    written = self._handlers.update(Target(rtype, ns, name), merged, False).body
            except ApiError as exc:
                raise KubeSimError(f"{doc.get('kind')} {name}: {exc.message}") from exc
            assert isinstance(written, dict)
            results.append(written)
        self.settle()
        return results

    def load(self, objects: Obj | list[Obj] | str) -> None:
        """Recorded objects, status included (uids and timestamps kept); then settle."""
        docs = parse_manifests(objects)

        def order(doc: Obj) -> int:
            kind = doc.get("kind", "")
            return _LOAD_ORDER.index(kind) if kind in _LOAD_ORDER else len(_LOAD_ORDER)

        for doc in sorted(docs, key=order):
            rtype = rtype_for(doc.get("apiVersion", ""), doc.get("kind", ""))
            obj = copy.deepcopy(doc)
            meta = obj.setdefault("metadata", {})
            meta.pop("resourceVersion", None)
            meta.pop("managedFields", None)
            if rtype.namespaced:
                ns = meta.setdefault("namespace", "default")
                if self.store.find(NAMESPACES, "", ns) is None:
                    self._handlers.create(
                        Target(NAMESPACES, None, None), {"metadata": {"name": ns}}, False
                    )
            existing = self.store.find(
                rtype, meta.get("namespace", "") if rtype.namespaced else "", meta.get("name", "")
            )
            if existing is not None:
                self.store.delete(
                    rtype, existing["metadata"].get("namespace", ""), existing["metadata"]["name"]
                )
            self.store.create(rtype, obj, keep_metadata=True)
        self.settle()

    def set_kubelet_reachable(self, node: str, reachable: bool) -> None:
        """Make the API server unable (or able again) to reach a node's kubelet: while it is
        unreachable, reading the log of a pod on that node fails with 500 and the dial error
        (`Get "https://IP:10250/containerLogs/...": dial tcp IP:10250: connect: connection
        refused`), as for a node whose kubelet is down. The node's pods keep running. Same as
        the node annotation `kubesim.io/kubelet-unreachable: "true"`."""

        def mark(obj: Obj) -> None:
            annotations = obj["metadata"].setdefault("annotations", {})
            if reachable:
                annotations.pop(KUBELET_UNREACHABLE, None)
            else:
                annotations[KUBELET_UNREACHABLE] = "true"

        try:
            self.store.mutate(NODES, "", node, mark)
        except StoreError as exc:
            raise KubeSimError(f'node "{node}" not found') from exc

    def set_node_ready(self, node: str, ready: bool) -> None:
        """Stop (or restart) a node's kubelet: it stops posting status and running pods. After
        the node monitor grace period (40 s) the node lifecycle controller marks the node
        `Unknown`, taints it `node.kubernetes.io/unreachable` (NoSchedule, NoExecute) and its
        pods not ready; the taint manager deletes them once their `tolerationSeconds` (300)
        run out. Same as the node annotation `kubesim.io/node-ready: "false"`."""

        def mark(obj: Obj) -> None:
            annotations = obj["metadata"].setdefault("annotations", {})
            if ready:
                annotations.pop(NODE_READY, None)
            else:
                annotations[NODE_READY] = "false"

        try:
            self.store.mutate(NODES, "", node, mark)
        except StoreError as exc:
            raise KubeSimError(f'node "{node}" not found') from exc
        self.settle()

    def add_provisioner(self, name: str) -> None:
        """Make kubesim provision volumes for StorageClasses whose provisioner is `name`."""
        self.controllers.volumes.add_provisioner(name)
        self.settle()

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> KubeSim:
        if self._thread is not None:
            raise KubeSimError("already started")
        self._stopping.clear()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted sockets inherit it: no 40 ms delayed-ACK stall between headers and body.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(("127.0.0.1", self._port))
        self._port = sock.getsockname()[1]
        self.url = f"https://127.0.0.1:{self._port}"
        self._tmpdir = tempfile.TemporaryDirectory(prefix="kubesim-")
        certfile, keyfile = self._cert.write(Path(self._tmpdir.name) / "pki")
        config = uvicorn.Config(
            self._api.app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
            ws="none",
            ssl_certfile=str(certfile),
            ssl_keyfile=str(keyfile),
        )
        self._server = uvicorn.Server(config)
        server = self._server
        self._thread = threading.Thread(
            target=self._serve, args=(server, sock), name="kubesim-api", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise KubeSimError("kubesim's API server did not start")
            time.sleep(0.01)
        self._write_kubeconfig()
        self.settle()
        if self._speed > 0:
            self._ticker = threading.Thread(
                target=self._tick_loop, name="kubesim-ticker", daemon=True
            )
            self._ticker.start()
        return self

    def _serve(self, server: uvicorn.Server, sock: socket.socket) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            await server.serve(sockets=[sock])

        asyncio.run(main())

    def _abort_connections(self) -> None:
        # TLS clients that keep idle connections never answer close_notify; drop them now so
        # shutdown neither waits for them nor leaks transports.
        if self._server is None:
            return
        for connection in list(self._server.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()

    def _write_kubeconfig(self) -> None:
        assert self._tmpdir is not None
        path = self._kubeconfig_arg or Path(self._tmpdir.name) / "kubeconfig"
        self.kubeconfig_path = kubeconfig.write(path, self.url, self.token, self._cert.ca_pem)

    def _tick_loop(self) -> None:
        while not self._stopping.wait(self._tick):
            self._reconcile_quietly()

    def stop(self) -> None:
        self._stopping.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
            self._ticker = None
        if self._server is not None:
            self._state.drop_watches()
            self._server.should_exit = True
            if self._loop is not None and not self._loop.is_closed():
                try:
                    self._loop.call_soon_threadsafe(self._abort_connections)
                except RuntimeError:
                    pass  # the loop already finished
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._server = None
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None

    def __enter__(self) -> KubeSim:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
