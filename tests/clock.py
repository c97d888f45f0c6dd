"""The services' clock in tests: naive UTC, whole seconds, moved by the test
(quarantines, agent liveness) instead of slept through."""

from __future__ import annotations

from datetime import datetime, timedelta


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)
