"""The simulated clock: wall time times a speed factor, or advanced by hand in tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class SimClock:
    """Seconds since an epoch; `advance()` moves it, `run_at_speed()` ties it to wall time.

    Manual mode (speed=0): time only moves when a test calls `advance(seconds)`.
    Wall mode (speed>0): time moves `speed` simulated seconds per wall second.
    Listeners are told after every advance so controllers can fire due timers.
    """

    def __init__(self, start: datetime | None = None, speed: float = 0.0) -> None:
        self._epoch = start or datetime.now(UTC).replace(microsecond=0)
        self._offset = 0.0  # simulated seconds since the epoch at the last anchor
        self._speed = speed
        self._anchor_wall = time.monotonic()
        self._lock = threading.RLock()
        self._listeners: list[Callable[[float], None]] = []

    @property
    def speed(self) -> float:
        return self._speed

    def set_speed(self, speed: float) -> None:
        with self._lock:
            self._offset = self.seconds()
            self._anchor_wall = time.monotonic()
            self._speed = speed

    def seconds(self) -> float:
        """Simulated seconds since the epoch."""
        with self._lock:
            if self._speed > 0:
                return self._offset + (time.monotonic() - self._anchor_wall) * self._speed
            return self._offset

    def now(self) -> datetime:
        return self._epoch + timedelta(seconds=self.seconds())

    def rfc3339(self, at: float | None = None) -> str:
        moment = self.now() if at is None else self._epoch + timedelta(seconds=at)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    def to_seconds(self, stamp: str) -> float:
        """Simulated seconds for an RFC 3339 timestamp written by this clock."""
        moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        return (moment - self._epoch).total_seconds()

    def advance(self, seconds: float) -> None:
        """Move simulated time forward (manual mode) and notify listeners."""
        if seconds < 0:
            raise ValueError("the clock does not run backwards")
        with self._lock:
            self._offset = self.seconds() + seconds
            self._anchor_wall = time.monotonic()
        self._notify()

    def on_advance(self, listener: Callable[[float], None]) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[float], None]) -> None:
        try:
            self._listeners.remove(listener)
        except ValueError:
            pass

    def _notify(self) -> None:
        now = self.seconds()
        for listener in list(self._listeners):
            listener(now)
