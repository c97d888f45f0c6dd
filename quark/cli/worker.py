"""``quark worker``: the outbox worker (docs/jobs.md), one or many processes on any host."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from typing import Annotated

import typer

from quark.config import Settings


def register(app: typer.Typer, load: Callable[..., Settings], require: Callable[[str], str]) -> None:
    """Add ``quark worker`` to ``app``; ``load`` and ``require`` are the CLI's settings and schema checks."""

    @app.command()
    def worker(
        config: Annotated[str | None, typer.Option("--config", "-c", help="TOML config file.")] = None,
        database_url: Annotated[str | None, typer.Option("--database-url", help="SQLAlchemy URL.")] = None,
        data_dir: Annotated[str | None, typer.Option("--data-dir", help="Directory of the SQLite database.")] = None,
        once: Annotated[bool, typer.Option("--once", help="Run the due jobs once and exit.")] = False,
    ) -> None:
        """Run the backend drivers' jobs (the outbox) until stopped (SIGTERM, SIGINT)."""
        settings = load(config, database_url=database_url, data_dir=data_dir)
        url = require(settings.effective_database_url)
        logging.basicConfig(
            level=settings.log_level.upper(), format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
        )
        asyncio.run(_run(settings, url, once))


async def _run(settings: Settings, url: str, once: bool) -> None:
    from quark.db.engine import Database
    from quark.services.backends.worker import Worker
    from quark.services.registry import build_services

    # a connection per job of a round, and two for the periodic sync's page reads and lease
    db = Database(url, pool_size=settings.worker_batch + 4, max_overflow=0, max_attempts=settings.db_max_attempts)
    worker = Worker(build_services(db, settings))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        if once:
            while await worker.run_once():
                pass
        else:
            await worker.run(stop)
    finally:
        await worker.close()
        await db.dispose()
