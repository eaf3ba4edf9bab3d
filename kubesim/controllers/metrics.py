"""metrics.k8s.io PodMetrics, as metrics-server would report them (every 15 s)."""

from __future__ import annotations

import hashlib
from typing import Any

from kubesim.controllers import quantity
from kubesim.controllers.base import Context
from kubesim.controllers.runtime import PodRuntime
from kubesim.store import POD_METRICS, PODS, NotFound, Obj

RESOLUTION = 15.0  # metrics-server's default --metric-resolution


def _jitter(key: str, at: float) -> float:
    """A small, repeatable wobble (+-4%) so usage looks measured rather than configured."""
    digest = hashlib.md5(f"{key}/{int(at // RESOLUTION)}".encode()).digest()
    return 1.0 + (digest[0] / 255.0 - 0.5) * 0.08


class PodMetricsWriter:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._written: dict[tuple[str, str], tuple[float, tuple[str, ...]]] = {}

    def update(self, pod: Obj, rt: PodRuntime, specs: dict[str, Obj], now: float) -> bool:
        running = [c for c in rt.containers.values() if c.phase == "running" and c.run is not None]
        meta = pod["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        if not running:
            return self.remove(pod)
        names = tuple(sorted(c.name for c in running))
        last = self._written.get(key)
        if last is not None and last[1] == names and now - last[0] < RESOLUTION - 1e-6:
            return False
        containers: list[dict[str, Any]] = []
        for c in sorted(running, key=lambda c: c.name):
            assert c.run is not None
            limit_text = ((specs.get(c.name, {}).get("resources") or {}).get("limits") or {}).get(
                "memory"
            )
            limit = quantity.memory_bytes(limit_text) if limit_text is not None else None
            wobble = _jitter(f"{meta.get('uid')}/{c.name}", now)
            memory = c.run.behaviour.memory_at(now - c.run.start, limit) * (
                wobble if not limit else 1.0
            )
            cpu = c.run.behaviour.cpu * wobble
            containers.append(
                {
                    "name": c.name,
                    "usage": {
                        "cpu": quantity.format_cpu(cpu),
                        "memory": quantity.format_memory(memory),
                    },
                }
            )
        obj: Obj = {
            "metadata": {
                "name": meta["name"],
                "namespace": meta.get("namespace", ""),
                "labels": dict(meta.get("labels") or {}),
            },
            "timestamp": self.ctx.stamp(now),
            "window": "15s",
            "containers": containers,
        }
        existing = self.ctx.store.peek(POD_METRICS, *key)
        if existing is None:
            self.ctx.store.create(POD_METRICS, obj)
        else:

            def change(current: Obj) -> None:
                current["timestamp"] = obj["timestamp"]
                current["window"] = obj["window"]
                current["containers"] = containers
                current["metadata"]["labels"] = obj["metadata"]["labels"]

            self.ctx.store.mutate(POD_METRICS, key[0], key[1], change)
        self._written[key] = (now, names)
        return False  # usage samples are not cluster state other controllers react to

    def remove(self, pod: Obj) -> bool:
        key = (pod["metadata"].get("namespace", ""), pod["metadata"]["name"])
        self._written.pop(key, None)
        try:
            self.ctx.store.delete(POD_METRICS, *key)
        except NotFound:
            return False
        return False

    def forget_missing(self, now: float) -> bool:
        for metrics in list(self.ctx.store.iter_refs(POD_METRICS)):
            meta = metrics["metadata"]
            if self.ctx.store.peek(PODS, meta.get("namespace", ""), meta["name"]) is None:
                self.remove(metrics)
        return False
