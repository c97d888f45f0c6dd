"""An index of NB's logical switch ports by the device they belong to (their
``quark:device_id``), kept in ovsdbapp's IDL copy of NB.

A distributed floating IP's NAT row needs the MAC of the floating IP's own
port (device_id: the floating IP). Without an index every such write read all
logical switch ports of the deployment; with it, the lookup is a range of a
sorted list (O(log n)).

Why not ``ovs.db.custom_index.MultiColumnIndex`` as it is: its entries hold
the whole indexed column (all of ``external_ids``) and it removes an entry by
rebuilding it from the row's current values. Quark rewrites ``external_ids``
in its own transactions (every write bumps the revision): the IDL updates the
index with the pending values at the write, then, when the server's update
arrives, removes an entry rebuilt from the row's old values, which is no
longer there (ValueError in the IDL's thread). This index keeps each row's
entry by uuid and removes that one, whatever the row's values are by then.
A transaction that writes a port and is then abandoned may leave its pending
device id in the index until the port's next update: lookups check the row
itself, so such an entry can hide a port for that long, never give a wrong one.
"""

from __future__ import annotations

from typing import Any

from ovs.db import custom_index

NAME = "quark_device_id"
TABLE = "Logical_Switch_Port"
KEY = "quark:device_id"


def _key(entry: Any) -> tuple[str, str]:
    """The device id; a port without one is keyed by its own uuid, so that those ports are
    not one long run of equal keys."""
    device = entry.external_ids.get(KEY, "")
    return (device, "") if device else ("", str(entry.uuid))


class DeviceIndex(custom_index.MultiColumnIndex):
    def __init__(self) -> None:
        self.by_uuid: dict[Any, Any] = {}
        super().__init__(NAME)
        self.add_column("external_ids", key=_key)

    def index_entry_from_row(self, row: Any) -> Any:
        device = row.external_ids.get(KEY, "")
        return row._table.rows.IndexEntry(uuid=row.uuid, external_ids={KEY: device} if device else {})

    def add(self, row: Any) -> None:
        if not hasattr(row, "external_ids"):
            return  # a row whose columns are not set yet: added when they are
        entry = self.index_entry_from_row(row)
        old = self.by_uuid.get(row.uuid)
        if old == entry:
            return
        if old is not None:
            self.values.discard(old)
        self.values.add(entry)
        self.by_uuid[row.uuid] = entry

    def remove(self, row: Any) -> None:
        old = self.by_uuid.pop(row.uuid, None)
        if old is not None:
            self.values.discard(old)

    def clear(self) -> None:
        super().clear()
        self.by_uuid = {}


def install(idl: Any) -> None:
    """Add the index to NB's IDL; before its connection starts (an index made later
    would miss the rows already read)."""
    table = idl.tables.get(TABLE)
    if table is not None:
        table.rows.indexes[NAME] = DeviceIndex()


def ports_of(api: Any, device_id: str) -> list[Any]:
    """The logical switch ports whose ``quark:device_id`` is ``device_id``."""
    table_rows = api.tables[TABLE].rows
    probe = table_rows.IndexEntry(external_ids={KEY: device_id})
    found = []
    for entry in table_rows.indexes[NAME].values.irange(probe, probe):
        row = table_rows.get(entry.uuid)
        if row is not None and row.external_ids.get(KEY) == device_id:
            found.append(row)
    return found
