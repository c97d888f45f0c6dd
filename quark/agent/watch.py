"""The two background loops every agent runs: the long-poll watch of its
state document and the heartbeat report.

``Watch`` keeps the newest document and wakes whoever waits on ``changed``
when its generation moves; it costs one held HTTP request per ``wait``
seconds while nothing changes. Failures (server down, restarts) are retried
with a capped back-off and never end the loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

Fetch = Callable[[Any, float], Awaitable[dict[str, Any]]]


class Watch:
    def __init__(self, fetch: Fetch, *, wait: float = 30.0, name: str = "state"):
        self._fetch = fetch
        self.wait = wait
        self.name = name
        self.document: dict[str, Any] | None = None
        self.changed = asyncio.Event()

    @property
    def generation(self) -> Any:
        return None if self.document is None else self.document.get("generation")

    async def run(self) -> None:
        backoff = 0.5
        while True:
            try:
                doc = await self._fetch(self.generation, self.wait)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: retry
                log.warning("%s watch failed: %s (retrying in %.1fs)", self.name, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            backoff = 0.5
            if self.document is None or doc.get("generation") != self.generation or doc != self.document:
                self.document = doc
                log.debug("%s generation %s", self.name, doc.get("generation"))
                self.changed.set()


async def report_forever(report: Callable[[bool], Awaitable[Any]], interval: float) -> None:
    """Heartbeat: ``report(start_flag)`` every ``interval`` seconds; the first
    successful report carries ``start_flag=True``."""
    started = False
    while True:
        try:
            await report(not started)
            started = True
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001
            log.warning("agent report failed: %s", exc)
        await asyncio.sleep(interval)


async def run_loops(
    watch: Watch,
    report: Callable[[bool], Awaitable[Any]],
    interval: float,
    reconcile: Callable[[], Coroutine[Any, Any, None]],
) -> None:
    """An agent's three loops (watch the API, heartbeat, reconcile) until one
    fails or the caller is cancelled; the others are cancelled with it."""
    tasks = [
        asyncio.create_task(watch.run(), name="watch"),
        asyncio.create_task(report_forever(report, interval), name="report"),
        asyncio.create_task(reconcile(), name="reconcile"),
    ]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def wait_any(event: asyncio.Event, timeout: float) -> bool:
    """Wait for ``event`` at most ``timeout`` seconds; True if it was set."""
    try:
        await asyncio.wait_for(event.wait(), timeout)
        return True
    except TimeoutError:
        return False
