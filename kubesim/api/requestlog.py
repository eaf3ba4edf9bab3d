"""Every API request kubesim answered, with the RBAC verb and resource it maps to."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    query: str
    status: int
    verb: str  # RBAC verb: get, list, watch, create, update, patch, delete, ... ("" if none)
    group: str
    resource: str
    subresource: str
    namespace: str


class RequestLog:
    """The most recent requests (bounded, so a long-running sim does not grow without end)."""

    def __init__(self, limit: int = 100_000) -> None:
        self._records: deque[RequestRecord] = deque(maxlen=limit)
        self._lock = threading.Lock()

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def snapshot(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
