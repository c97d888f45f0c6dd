"""The rows of Quark's resources in ovsdbapp's copy of NB: finding, inserting,
and the compare-and-swap ``Write`` every resource's command derives from
(commands.py, routing.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ovsdbapp.backend.ovs_idl import idlutils
from ovsdbapp.backend.ovs_idl.command import BaseCommand

from quark.drivers.ovn import mapping as m


class Missing(Exception):
    """A row this change needs is not in the northbound database yet."""


def rows(api: Any, table: str) -> Iterator[Any]:
    return iter(list(api.tables[table].rows.values()))


# Kinds whose rows are named after the resource, in tables with a unique name index
# (ovsdbapp indexes them: found without a scan of the table).
NAMED: dict[str, Callable[[str], str]] = {"port": str, "security_group": m.group_name}


def find(api: Any, kind: str, resource_id: str) -> Any:
    key = m.id_key(kind)
    if kind in NAMED:
        row = find_named(api, m.TABLES[kind], NAMED[kind](resource_id))
        return row if row is not None and row.external_ids.get(key) == resource_id else None
    return next((r for r in rows(api, m.TABLES[kind]) if r.external_ids.get(key) == resource_id), None)


def find_named(api: Any, table: str, name: str) -> Any:
    return idlutils.row_by_value(api.idl, table, "name", name, None)


def set_columns(row: Any, columns: Mapping[str, Any]) -> None:
    for column, value in columns.items():
        setattr(row, column, value)


def current(row: Any, column: str) -> list[Any]:
    """A reference column's rows (a set, or an optional single reference) of a row that
    may have been inserted in this transaction (then unset: empty)."""
    try:
        value = getattr(row, column)
    except (AttributeError, KeyError, TypeError):
        return []
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple | set) else [value]


def insert(txn: Any, api: Any, table: str, columns: Mapping[str, Any]) -> Any:
    row = txn.insert(api.tables[table])
    set_columns(row, columns)
    return row


class Write(BaseCommand):
    """Write one resource at ``revision``, only over an older one; result: written or not."""

    kind = ""

    def __init__(
        self, api: Any, body: Mapping[str, Any], revision: int, options: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(api)
        self.body = body
        self.revision = revision
        self.options = options or {}  # the driver's L3 settings (``L3_OPTIONS``)

    def run_idl(self, txn: Any) -> None:
        row = find(self.api, self.kind, str(self.body["id"]))
        if row is not None:
            row.verify("external_ids")  # the compare of compare-and-swap
            if m.revision_of(row.external_ids) >= self.revision:
                self.result = False
                return
        self.result = True
        self.write(txn, row)

    def write(self, txn: Any, row: Any) -> None:
        raise NotImplementedError

    def upsert(self, txn: Any, row: Any, columns: Mapping[str, Any]) -> Any:
        if row is None:
            return insert(txn, self.api, m.TABLES[self.kind], columns)
        set_columns(row, columns)
        return row
