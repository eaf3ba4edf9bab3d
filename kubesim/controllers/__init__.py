"""kubesim's controllers: deployment, replicaset, scheduler, kubelet, garbage collector."""

from __future__ import annotations

from kubesim.clock import SimClock
from kubesim.logs import LogStore
from kubesim.store import Store


class ControllerManager:
    """Runs every controller until the cluster is quiescent at the clock's current time."""

    def __init__(self, store: Store, clock: SimClock, logs: LogStore) -> None:
        self.store = store
        self.clock = clock
        self.logs = logs

    def reconcile(self) -> None:
        """Bring the cluster to rest at `clock.seconds()`; fire timers that are due."""
