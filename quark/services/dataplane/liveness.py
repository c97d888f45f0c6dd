"""When an agent counts as alive: its last report is younger than ``agent_down_time``."""

from __future__ import annotations

from datetime import datetime, timedelta

from quark.clock import Clock
from quark.config import Settings


def cutoff(settings: Settings, clock: Clock) -> datetime:
    """Reports older than this mean the agent is down."""
    return clock() - timedelta(seconds=settings.agent_down_time)


def is_alive(heartbeat: datetime | None, settings: Settings, clock: Clock) -> bool:
    return heartbeat is not None and heartbeat > cutoff(settings, clock)
