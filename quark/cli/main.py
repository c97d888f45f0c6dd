"""The ``quark`` command: serve, db upgrade/check, ipam check, agent, dhcp, metadata-agent, worker."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from sqlalchemy.engine import make_url

from quark import logs
from quark.cli import agents as agents_cli
from quark.cli import backend as backend_cli
from quark.cli import importer as importer_cli
from quark.cli import operator as operator_cli
from quark.cli import worker as worker_cli
from quark.cli.options import ConfigOpt, DataDirOpt, DbUrlOpt
from quark.config import Settings, load_settings

METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"  # as quark.metrics reads it

T = TypeVar("T")

app = typer.Typer(help="Quark: a networking service with the Neutron v2.0 API.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema management.", no_args_is_help=True)
app.add_typer(db_app, name="db")
ipam_app = typer.Typer(help="IP address management tools.", no_args_is_help=True)
app.add_typer(ipam_app, name="ipam")
policy_app = typer.Typer(help="The API policy (oslo.policy rules).", no_args_is_help=True)
app.add_typer(policy_app, name="policy")


def _settings(config: str | None, **overrides) -> Settings:
    try:
        return load_settings(config, **overrides)
    except (OSError, ValueError) as exc:
        typer.echo(f"quark: {exc}", err=True)
        raise typer.Exit(2) from None


def _policy(settings: Settings):
    """The policy engine over ``settings.policy_file``; a file that does not parse is one line, exit 2."""
    from quark.policy import Policy

    try:
        return Policy(settings.policy_file)
    except Exception as exc:  # noqa: BLE001 - YAML/JSON syntax, a bad rule string: the operator's file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        typer.echo(f"quark: policy file {settings.policy_file}: {first}", err=True)
        raise typer.Exit(2) from None


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _is_loopback(host: str) -> bool:
    """Whether every address ``host`` names is a loopback one."""
    import ipaddress
    import socket

    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos)


def _check_exposure(settings: Settings) -> None:
    """noauth trusts every caller's headers: only loopback, unless the operator says otherwise."""
    if settings.auth_strategy == "noauth" and not settings.noauth_allow_remote and not _is_loopback(settings.host):
        typer.echo(
            f"quark: refusing to serve without authentication on {settings.host}: auth_strategy is noauth, "
            'which makes every caller admin. Listen on 127.0.0.1, set auth_strategy = "keystone" with a '
            "[keystone_authtoken] table, or set noauth_allow_remote = true (QUARK_NOAUTH_ALLOW_REMOTE=true) "
            "to allow it anyway.",
            err=True,
        )
        raise typer.Exit(2)


def _db_step(step: Callable[[], T]) -> T:
    """Run ``step``; a database that cannot be used is one line and exit 3, not a traceback."""
    from alembic.util import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return step()
    except (SQLAlchemyError, OSError, CommandError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        typer.echo(f"quark: cannot use the database: {first}", err=True)
        raise typer.Exit(3) from None


def _require_current(url: str, stale_exit: int = 1) -> str:
    """``url`` if its database exists and is at the migrations' head; else one line and exit.

    Creates nothing: a missing SQLite file (a command run from another
    directory) is refused before anything opens it.
    """
    from quark.db import migrate
    from quark.db.engine import Database

    if _is_sqlite(url):
        path = make_url(url).database or ""
        if path in ("", ":memory:") or not Path(path).is_file():
            typer.echo(
                f"quark: there is no database at {path or url}; run `quark db upgrade` first "
                "(or give --data-dir / --database-url / --config)",
                err=True,
            )
            raise typer.Exit(stale_exit)

    async def check() -> None:
        db = Database(url, pool_size=1, max_overflow=0)
        try:
            await migrate.check_current(db)
        finally:
            await db.dispose()

    try:
        asyncio.run(check())
    except migrate.SchemaOutOfDate as exc:
        typer.echo(f"quark: {exc}", err=True)
        raise typer.Exit(stale_exit) from None
    except Exception as exc:  # noqa: BLE001 - unreachable database, bad URL, missing driver, bad credentials
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        typer.echo(f"quark: cannot use the database: {first}", err=True)
        raise typer.Exit(3) from None
    return url


@app.command()
def serve(
    config: ConfigOpt = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port.")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
    database_url: DbUrlOpt = None,
    data_dir: DataDirOpt = None,
    log_level: Annotated[str | None, typer.Option(help="debug, info, warning, error.")] = None,
) -> None:
    """Serve the API (SQLite files are migrated automatically)."""
    from quark.db import migrate

    settings = _settings(
        config, host=host, port=port, workers=workers, database_url=database_url, data_dir=data_dir, log_level=log_level
    )
    _check_exposure(settings)
    _policy(settings)  # a broken policy file: one line here, not a traceback from every worker
    url = settings.effective_database_url
    logs.configure(settings.log_level, settings.log_format)
    if settings.auth_strategy == "noauth" and not _is_loopback(settings.host):
        logging.getLogger("quark").warning(
            "serving on %s without authentication (noauth_allow_remote): every caller is admin", settings.host
        )
    if _is_sqlite(url):
        _db_step(lambda: migrate.upgrade(url))  # the embedded file: created and migrated on start
    else:
        _require_current(url, stale_exit=3)
    # Workers rebuild the settings from the environment.
    os.environ.update(settings.to_env())
    os.environ["QUARK_DATABASE_URL"] = url
    # /metrics: the workers write their values in a private directory of this start (quark.metrics).
    metrics_dir = tempfile.mkdtemp(prefix="quark-metrics-")
    os.environ[METRICS_ENV] = metrics_dir
    # A single-process uvicorn re-raises the SIGTERM/SIGINT it stopped on, with the handlers it
    # found: ours turn it into an exception, so the directory goes before the process does.
    previous = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGTERM, signal.SIGINT)}
    stopped_by = None
    try:
        _run_uvicorn(settings)
    except _Stopped as exc:
        stopped_by = exc.signum
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if stopped_by is not None:
        signal.signal(stopped_by, signal.SIG_DFL)
        signal.raise_signal(stopped_by)  # the exit status a signal gives, as before


class _Stopped(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _stopped(signum: int, frame) -> None:
    raise _Stopped(signum)


def _run_uvicorn(settings: Settings) -> None:
    import uvicorn

    uvicorn.run(
        "quark.api.app:app_factory",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers if settings.workers > 1 else None,
        log_level=settings.log_level,
        access_log=False,  # quark.access writes one line per request (quark.api.middleware)
        log_config=None,  # uvicorn's own lines go through the root handler: same format, request ids
        lifespan="on",
        # Agents' long-polls (up to 60 s) must not hold a stopping server for long.
        timeout_graceful_shutdown=15,
    )


@db_app.command("upgrade")
def db_upgrade(config: ConfigOpt = None, database_url: DbUrlOpt = None, data_dir: DataDirOpt = None) -> None:
    """Migrate the database schema to the newest revision."""
    from quark.db import migrate

    settings = _settings(config, database_url=database_url, data_dir=data_dir)
    _db_step(lambda: migrate.upgrade(settings.effective_database_url))
    typer.echo(f"database at revision {migrate.head_revision()}")


@db_app.command("check")
def db_check(config: ConfigOpt = None, database_url: DbUrlOpt = None, data_dir: DataDirOpt = None) -> None:
    """Exit 0 if the schema is current, 1 if it is not (or there is no database), 3 if unreachable."""
    settings = _settings(config, database_url=database_url, data_dir=data_dir)
    _require_current(settings.effective_database_url)
    typer.echo("schema is current")


@ipam_app.command("check")
def ipam_check(
    config: ConfigOpt = None,
    database_url: DbUrlOpt = None,
    data_dir: DataDirOpt = None,
    fix: Annotated[bool, typer.Option("--fix", help="Repair counters and release leaked addresses.")] = False,
) -> None:
    """Verify allocations against ports and subnets; exit 1 if problems remain."""
    from quark.db.engine import Database
    from quark.ipam import repair

    settings = _settings(config, database_url=database_url, data_dir=data_dir)
    url = _require_current(settings.effective_database_url)

    async def run() -> repair.Report:
        db = Database(url, pool_size=1, max_overflow=0)
        try:
            return await repair.check(db, fix=fix)
        finally:
            await db.dispose()

    report = _db_step(lambda: asyncio.run(run()))
    for line in report.problems:
        typer.echo(f"PROBLEM  {line}")
    for line in report.warnings:
        typer.echo(f"WARNING  {line}")
    for line in report.fixed:
        typer.echo(f"FIXED    {line}")
    typer.echo(
        f"checked {report.checked_allocations} allocations in {report.checked_subnets} subnets: "
        f"{len(report.problems)} problems, {len(report.warnings)} warnings, {len(report.fixed)} fixed"
    )
    if not report.ok:
        raise typer.Exit(1)


# --- host agents ---------------------------------------------------------------


@policy_app.command("sample")
def policy_sample(
    output: Annotated[str | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")] = None,
) -> None:
    """Print every default rule, commented out, as a policy.yaml to start overrides from."""
    from quark.policy.sample import sample

    text = sample()
    if output:
        with open(output, "w") as f:
            f.write(text)
    else:
        typer.echo(text, nl=False)


@policy_app.command("check")
def policy_check(config: ConfigOpt = None) -> None:
    """Load the configured policy file over the defaults; exit 1 if a rule names an undefined one."""
    settings = _settings(config)
    engine = _policy(settings)
    ok = engine.enforcer.check_rules()
    typer.echo(f"policy: {len(engine.enforcer.rules)} rules ({settings.policy_file or 'defaults only'}); ok={ok}")
    raise typer.Exit(0 if ok else 1)


worker_cli.register(app, _settings, _require_current)
backend_cli.register(app, _settings, _require_current)
importer_cli.register(app, _settings, _require_current)
agents_cli.register(app)
operator_cli.register(app, _settings, _require_current)


def main() -> None:  # pragma: no cover
    app(prog_name="quark")


if __name__ == "__main__":  # pragma: no cover
    main()
