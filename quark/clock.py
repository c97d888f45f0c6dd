"""Time as Quark stores it: naive UTC, whole seconds.

Every database Quark supports stores a naive timestamp alike, and Neutron
shows whole seconds; services take a ``Clock`` so tests can move time
(quarantine, agent liveness) without sleeping.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """Naive UTC, whole seconds: what Neutron shows and what every DB stores alike."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)
