"""A background task's loop: one action every few seconds until the server stops."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

LOG = logging.getLogger(__name__)


async def every(interval: float, stop: asyncio.Event, action: Callable[[], Awaitable[Any]], what: str) -> None:
    """Run ``action()`` every ``interval`` seconds until ``stop`` is set; a
    failure is logged (as "``what`` failed") and the loop goes on."""
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), interval)
            return
        except TimeoutError:
            pass
        try:
            await action()
        except Exception:
            LOG.warning("%s failed", what, exc_info=True)
