"""Leadership as the watch loop sees it: a gate, set by whoever holds the leader Lease.

The agent never touches Kubernetes: the composition root runs the elector
(`mcp_server.leader`) and flips this gate. The watch loop opens, adopts and acts on incidents
only while it is open; when it closes, the loop cancels this process's incident work at once
without writing anything (no close, no release), so the incidents' own leases run out and the
next leader adopts them from their last checkpoint.

    gate = Leadership()
    gate.subscribe(lambda leading, why: ...)
    gate.set(True)             # called on the event loop's thread
"""

from __future__ import annotations

from collections.abc import Callable

Listener = Callable[[bool, str], None]


class Leadership:
    def __init__(self, leading: bool = False) -> None:
        self._leading = leading
        self._listeners: list[Listener] = []
        self.reason = ""

    @property
    def leading(self) -> bool:
        return self._leading

    def set(self, leading: bool, reason: str = "") -> None:
        """Open or close the gate; listeners hear of a change at once (same thread)."""
        if leading == self._leading:
            return
        self._leading = leading
        self.reason = reason
        for listener in list(self._listeners):
            listener(leading, reason)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe
