"""MAC addresses in use per MAC address range, as a sharded counter
(``quark.ipam.mac_usage``): what the range views' ``allocated`` shows."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from quark.db.base import Base, table_of


class MacRangeUsage(Base):
    """Live ``mac_allocations`` rows of one range, spread over shards.

    Every allocation and release adds to one shard picked at random, in the
    transaction of the change, so concurrent port creates (all drawing from
    the default range) rarely touch the same row; the sum is the range's use.
    No foreign key, for the reason ``mac_allocations.range_id`` has none:
    range deletion removes its counter itself."""

    __tablename__ = "mac_range_usage"

    range_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    shard: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    used: Mapped[int] = mapped_column(BigInteger, default=0)


mac_range_usage = table_of(MacRangeUsage)
