"""Network services (Quark extension, admin-managed): the kinds of network a
project gets when it creates one without provider attributes, and which
project has which (docs/network_services.md).

``network_services``: one kind (``flat``, ``flat_dhcp``, ``vlan``, ``vxlan``),
the physical network it uses (flat: required; vlan: optional, any vlan range
otherwise), and the backend driver that realises its networks.

``network_service_associations``: at most one service per project. The row's
``id`` *is* the project id, so the association is addressed by its project
(``/v2.0/network-service-associations/{project_id}``) and a second one for a
project is impossible by the primary key. A project without a row gets the
deployment default (``tenant_network_type``, ``backend_driver``).
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from quark.db.base import Base, StandardAttributes, table_of


class NetworkService(StandardAttributes, Base):
    __tablename__ = "network_services"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), default="", index=True)
    # flat | flat_dhcp | vlan | vxlan
    kind: Mapped[str] = mapped_column(String(16))
    # "" when the kind takes any (vlan: any vlan range; vxlan: none)
    physical_network: Mapped[str] = mapped_column(String(64), default="")
    driver: Mapped[str] = mapped_column(String(64))


class NetworkServiceAssociation(StandardAttributes, Base):
    __tablename__ = "network_service_associations"

    # the project's id (one association per project)
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    network_service_id: Mapped[str] = mapped_column(ForeignKey("network_services.id"), index=True)


network_services = table_of(NetworkService)
network_service_associations = table_of(NetworkServiceAssociation)
