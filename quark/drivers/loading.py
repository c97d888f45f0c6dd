"""Drivers by name: the entry points of group ``quark.drivers``.

A vendor ships a driver as its own package declaring, in its pyproject.toml::

    [project.entry-points."quark.drivers"]
    acme = "acme_quark.driver:AcmeDriver"

The class is built as ``AcmeDriver(name, options)``; ``options`` is the
driver's table of the ``backend_driver_options`` setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from quark.drivers.base import Driver, UnknownDriver

GROUP = "quark.drivers"


@cache
def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def names() -> tuple[str, ...]:
    """The names of the installed drivers, sorted."""
    return tuple(sorted(_entry_points()))


@cache
def driver_class(name: str) -> type[Driver]:
    try:
        entry = _entry_points()[name]
    except KeyError:
        raise UnknownDriver(name) from None
    cls = entry.load()
    if not (isinstance(cls, type) and issubclass(cls, Driver)):
        raise UnknownDriver(f"{name}: {entry.value} is not a quark.drivers.base.Driver")
    return cls


def needs_backend(name: str) -> bool:
    """Whether a change on a network of driver ``name`` needs an outbox job. A
    driver no longer installed does: its job fails with the error, visibly,
    rather than every write of its networks."""
    try:
        return driver_class(name).needs_backend
    except UnknownDriver:
        return True


def can_sync(name: str) -> bool:
    """Whether driver ``name`` is installed and has its own ``sync`` (the base's
    finds nothing: a periodic sync of it would only write jobs)."""
    try:
        return driver_class(name).sync is not Driver.sync
    except UnknownDriver:
        return False


def load(name: str, options: Mapping[str, Any] | None = None) -> Driver:
    """A new driver ``name`` with ``options``."""
    return driver_class(name)(name, options or {})


def supports(name: str, network_type: str) -> bool:
    """Whether the installed driver ``name`` declares ``network_type``
    (``Driver.network_types``; None declares every type). Raises UnknownDriver."""
    declared = driver_class(name).network_types
    return declared is None or network_type in declared
