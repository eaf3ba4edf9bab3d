"""Every API request kubesim answered, with the RBAC verb and resource it maps to."""

from __future__ import annotations

import threading
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
    def __init__(self) -> None:
        self._records: list[RequestRecord] = []
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
