"""Which chassis may host routers' gateway ports, read from the OVN southbound database.

As in Neutron's OVN driver, a chassis is gateway-capable when its
``ovn-cms-options`` (``other_config``, or ``external_ids`` on older OVN) holds
``enable-chassis-as-gw`` (set on the hypervisor with ``ovs-vsctl set
open_vswitch . external_ids:ovn-cms-options=enable-chassis-as-gw``;
``ovn-controller`` copies it into its ``Chassis`` row). Only the ``Chassis``
table is replicated (not SB's logical flows).
"""

from __future__ import annotations

import threading
from typing import Any

from ovsdbapp.backend.ovs_idl import connection
from ovsdbapp.backend.ovs_idl.command import BaseCommand
from ovsdbapp.schema.ovn_southbound import impl_idl

from quark.drivers.ovn.connect import open_api

GATEWAY_OPTION = "enable-chassis-as-gw"


def is_gateway(other_config: Any, external_ids: Any) -> bool:
    for column in (other_config, external_ids):
        options = str((column or {}).get("ovn-cms-options", ""))
        if GATEWAY_OPTION in (o.strip() for o in options.split(",")):
            return True
    return False


class ReadGateways(BaseCommand):
    """The names of the gateway-capable chassis, sorted (the first has the highest priority)."""

    READ_ONLY = True

    def run_idl(self, txn: Any) -> None:
        chassis = list(self.api.tables["Chassis"].rows.values())
        self.result = sorted(str(c.name) for c in chassis if is_gateway(c.other_config, c.external_ids))


class Southbound:
    """A lazily opened connection to SB, for the gateway chassis (synchronous: call in a thread)."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.timeout = timeout
        self._lock = threading.Lock()
        self._conn: connection.Connection | None = None
        self._api: Any = None

    def gateways(self) -> list[str]:
        with self._lock:
            if self._api is None:
                self._conn, self._api = open_api(
                    self.url, "OVN_Southbound", impl_idl.OvnSbApiIdlImpl, self.timeout, ["Chassis"]
                )
            api = self._api
        return list(ReadGateways(api).execute(check_error=True, log_errors=False))

    def close(self) -> None:
        with self._lock:
            conn, self._conn, self._api = self._conn, None, None
        if conn is not None:
            conn.stop(self.timeout)
