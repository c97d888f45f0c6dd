"""Drift between the database and each backend in use: the backend sync's
comparison (quark.services.backends.sync, quark.drivers.sync_compare), shared by
``quark backend sync`` and the orphans report (which never repairs)."""

from __future__ import annotations

from typing import Any

from quark.drivers import loading
from quark.services.backends.sync import Syncer, drivers_in_use

KINDS = ("missing", "extra", "stale")


async def sync_drivers(services: Any, only: str | None, repair: bool) -> dict[str, Any]:
    """``{"drift": bool, "drivers": {name: report}}`` for ``only`` or every driver in use;
    with ``repair``, each report's ``remaining`` is a second comparison after the repair.
    An unknown driver name raises LookupError."""
    settings = services.settings
    names = [only] if only else await drivers_in_use(services.db, settings.backend_driver)
    reports: dict[str, Any] = {}
    for name in names:
        driver = loading.load(name, settings.backend_driver_options.get(name, {}))
        try:
            syncer = Syncer(services)
            entry = (await syncer.sync(driver, repair=repair)).as_dict()
            if repair:
                remaining = await syncer.sync(driver, repair=False)
                entry["remaining"] = remaining.as_dict()
                entry["drift"] = remaining.drift
            reports[name] = entry
        finally:
            await driver.close()
    return {"drift": any(r["drift"] for r in reports.values()), "drivers": reports}


def drift_findings(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The orphans report's rows of a ``sync_drivers`` result: one per resource out of step."""
    return [
        {"kind": f"drift_{k}", "id": resource_id, "project_id": "", "detail": f"driver {name}: {kind} {k}"}
        for name, entry in result["drivers"].items()
        for kind, r in entry["kinds"].items()
        for k in KINDS
        for resource_id in r[k]
    ]
