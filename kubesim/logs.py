"""Container logs, kept beside the store (logs are not API objects): current and previous."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

LogLine = tuple[float, str]  # (simulated seconds, text)


@dataclass
class _ContainerLogs:
    current: deque[LogLine] = field(default_factory=lambda: deque(maxlen=5000))
    previous: list[LogLine] = field(default_factory=list)


class LogStore:
    """Per (namespace, pod, container): the running instance's lines and the last one's."""

    def __init__(self) -> None:
        self._logs: dict[tuple[str, str, str], _ContainerLogs] = {}
        self._lock = threading.Lock()

    def append(self, namespace: str, pod: str, container: str, line: str, at: float) -> None:
        with self._lock:
            self._logs.setdefault((namespace, pod, container), _ContainerLogs()).current.append(
                (at, line)
            )

    def rotate(self, namespace: str, pod: str, container: str) -> None:
        """The container restarted: its current log becomes the previous one."""
        with self._lock:
            logs = self._logs.setdefault((namespace, pod, container), _ContainerLogs())
            logs.previous = list(logs.current)
            logs.current.clear()

    def read(
        self, namespace: str, pod: str, container: str, previous: bool = False
    ) -> list[LogLine] | None:
        """Lines oldest first, or None when that container never logged (or has no previous)."""
        with self._lock:
            logs = self._logs.get((namespace, pod, container))
            if logs is None:
                return None
            if previous:
                return list(logs.previous) if logs.previous else None
            return list(logs.current)

    def drop_pod(self, namespace: str, pod: str) -> None:
        with self._lock:
            for key in [k for k in self._logs if k[0] == namespace and k[1] == pod]:
                del self._logs[key]
