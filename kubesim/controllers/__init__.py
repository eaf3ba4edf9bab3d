"""kubesim's controllers: deployment, replicaset, garbage collector, volume binder, scheduler,
kubelet, disruption (PodDisruptionBudget status)."""

from __future__ import annotations

import logging
import random
import threading

from kubesim.clock import SimClock
from kubesim.controllers.base import Context, Controller
from kubesim.controllers.cronjob import CronJobController
from kubesim.controllers.daemonset import DaemonSetController
from kubesim.controllers.deployment import DeploymentController
from kubesim.controllers.disruption import DisruptionController
from kubesim.controllers.endpointslice import EndpointSliceController
from kubesim.controllers.events import EventRecorder
from kubesim.controllers.gc import GarbageCollector
from kubesim.controllers.job import JobController
from kubesim.controllers.kubelet import Kubelet
from kubesim.controllers.nodelifecycle import NodeLifecycleController
from kubesim.controllers.replicaset import ReplicaSetController
from kubesim.controllers.scheduler import Scheduler
from kubesim.controllers.statefulset import StatefulSetController
from kubesim.controllers.volumes import VolumeBinder
from kubesim.images import ImageCatalog
from kubesim.logs import LogStore
from kubesim.store import Store
from kubesim.version import KubeVersion, kube_version

log = logging.getLogger(__name__)

# Passes at one moment before we call the cluster restless (a controller fighting another).
MAX_PASSES = 100
# Timer firings caught up in one reconcile (a clock jump of hours with many crashing pods).
MAX_STEPS = 100_000
# Catching up, the controllers run at most once per this many simulated seconds: each timer
# still fires at its own time (the kubelet stamps it so), others just see it up to 1 s later.
GRANULARITY = 1.0

__all__ = ["ControllerManager", "Context"]


class ControllerManager:
    """Runs every controller until the cluster is quiescent at the clock's current time.

    Timers (a container's exit, a back-off's end, a progress deadline) fire at their own
    simulated time: when the clock jumped past several of them, the controllers run at each
    in turn, so a ten-minute jump still yields every restart in between.
    """

    def __init__(
        self,
        store: Store,
        clock: SimClock,
        logs: LogStore,
        images: ImageCatalog | None = None,
        seed: int | None = None,
        kube: KubeVersion | str | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.logs = logs
        self.images = images if images is not None else ImageCatalog()
        self.events = EventRecorder(store, clock)
        self.ctx = Context(
            store=store,
            clock=clock,
            logs=logs,
            events=self.events,
            images=self.images,
            rng=random.Random(seed),
            kube=kube_version(kube),
        )
        self.deployments = DeploymentController(self.ctx)
        self.replicasets = ReplicaSetController(self.ctx)
        self.statefulsets = StatefulSetController(self.ctx)
        self.daemonsets = DaemonSetController(self.ctx)
        self.gc = GarbageCollector(self.ctx)
        self.volumes = VolumeBinder(self.ctx)
        self.nodes = NodeLifecycleController(self.ctx)
        self.scheduler = Scheduler(self.ctx)
        self.kubelet = Kubelet(self.ctx)
        self.disruption = DisruptionController(self.ctx)
        self.jobs = JobController(self.ctx)
        self.cronjobs = CronJobController(self.ctx)
        self.endpointslices = EndpointSliceController(self.ctx)
        self.controllers: list[Controller] = [
            self.deployments,
            self.replicasets,
            self.statefulsets,
            self.daemonsets,
            self.gc,
            self.volumes,
            self.nodes,
            self.scheduler,
            self.kubelet,
            self.disruption,
            self.cronjobs,
            self.jobs,
            self.endpointslices,
        ]
        self._lock = threading.RLock()
        self._last = clock.seconds()

    def next_due(self) -> float | None:
        """The earliest pending timer of any controller (simulated seconds)."""
        return min((d for c in self.controllers if (d := c.next_due()) is not None), default=None)

    def reconcile(self) -> bool:
        """Bring the cluster to rest at `clock.seconds()`; fire timers that are due.

        Returns True when anything changed.
        """
        with self._lock:
            now = max(self.clock.seconds(), self._last)
            changed = False
            for _ in range(MAX_STEPS):
                due = self.next_due()
                at = now
                if due is not None and due < now:
                    at = min(now, max(due, self._last) + GRANULARITY)
                changed |= self._settle(at)
                self._last = at
                if at >= now:
                    return changed
            log.warning(
                "kubesim: more than %d timer steps in one reconcile; the rest waits", MAX_STEPS
            )
            return changed

    def _settle(self, at: float) -> bool:
        changed = False
        for _ in range(MAX_PASSES):
            moved = False
            for controller in self.controllers:
                moved |= controller.reconcile(at)
            if not moved:
                return changed
            changed = True
        log.warning("kubesim: controllers did not settle after %d passes at t=%.1f", MAX_PASSES, at)
        return changed
