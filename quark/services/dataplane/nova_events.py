"""Nova external events (``network-vif-plugged``) through an outbox.

``NovaEvents.queue`` writes an event row in the transaction of the status
change that causes it (only when ``nova_events_url`` or a ``[nova]`` table is set); the sender
(``quark.services.dataplane.event_sender``) posts due rows in the background.
"""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from quark.db import models

ev = models.nova_events


class NovaEvents:
    def __init__(self, settings, clock) -> None:
        self.enabled = bool(settings.nova_events_url or settings.nova)
        self.clock = clock

    async def queue(self, conn: AsyncConnection, name: str, server_uuid: str, port_id: str, status: str) -> None:
        """Store one event for the sender; nothing when no Nova URL is set."""
        if not self.enabled or not server_uuid:
            return
        now = self.clock()
        await conn.execute(
            insert(ev).values(
                name=name,
                server_uuid=server_uuid,
                tag=port_id,
                status=status,
                state="pending",
                attempts=0,
                next_attempt_at=now,
                last_error="",
                created_at=now,
                sent_at=None,
            )
        )
