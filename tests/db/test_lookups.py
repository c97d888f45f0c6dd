"""quark.db.lookups on every database: several SELECTs of different shapes
and column types as one UNION ALL give back exactly what each SELECT alone
gives, typed as its own columns are (strings, integers, booleans, JSON,
datetimes, NULLs), split by lookup and sorted as asked."""

from __future__ import annotations

import pytest
from sqlalchemy import Integer, bindparam, literal_column, select

from quark.config import Settings
from quark.context import Context
from quark.db import lookups, models
from quark.db.engine import Database
from quark.services.registry import build_services
from tests.dbs import prepare

ADMIN = Context.admin()
n, s, t = models.networks, models.subnets, models.tags
NETS = bindparam("net_ids", expanding=True)

NETWORKS = lookups.Lookup("networks", select(n).where(n.c.id.in_(NETS)), order=("name",))
SUBNETS = lookups.Lookup("subnets", select(s).where(s.c.network_id.in_(NETS)), order=("cidr",))
TAGS = lookups.Lookup("tags", select(t.c.resource_id, t.c.tag).where(t.c.resource_id.in_(NETS)), order=("tag",))
# Two lookups of one name (as own and shared addresses are): concatenated.
V4 = lookups.Lookup(
    "by_version",
    select(s.c.id, literal_column("4", Integer).label("v")).where(s.c.network_id.in_(NETS), s.c.ip_version == 4),
)
V6 = lookups.Lookup(
    "by_version",
    select(s.c.id, literal_column("6", Integer).label("v")).where(s.c.network_id.in_(NETS), s.c.ip_version == 6),
)


@pytest.fixture
async def env(database_url):
    db = Database(database_url, pool_size=2, max_overflow=2)
    settings = Settings()
    await prepare(db, settings)
    services = build_services(db, settings)
    yield db, services
    await db.dispose()


async def _two_networks(services) -> tuple[str, str, list[str]]:
    a = await services.networks.create(ADMIN, {"name": "look-a", "mtu": 1400})
    b = await services.networks.create(ADMIN, {"name": "look-b", "admin_state_up": False})
    await services.networks.replace_tags(ADMIN, a["id"], ["zeta", "alpha"])
    subs = [
        await services.subnets.create(
            ADMIN, {"network_id": a["id"], "ip_version": 4, "cidr": "10.61.0.0/24", "dns_nameservers": ["10.61.0.53"]}
        ),
        await services.subnets.create(ADMIN, {"network_id": a["id"], "ip_version": 6, "cidr": "2001:db8:61::/64"}),
        await services.subnets.create(
            ADMIN, {"network_id": b["id"], "ip_version": 4, "cidr": "10.62.0.0/24", "gateway_ip": None}
        ),
    ]
    return a["id"], b["id"], [sub["id"] for sub in subs]


async def test_union_rows_equal_each_select_alone(env):
    db, services = env
    net_a, net_b, _ = await _two_networks(services)
    params = {"net_ids": [net_a, net_b]}
    async with db.read() as conn:
        together = await lookups.fetch(conn, [NETWORKS, SUBNETS, TAGS], params)
        alone = {lk.name: (await lookups.fetch(conn, [lk], params))[lk.name] for lk in (NETWORKS, SUBNETS, TAGS)}
        direct = {r.id: r for r in await conn.execute(select(n).where(n.c.id.in_([net_a, net_b])))}
    assert together == alone
    nets = together["networks"]
    assert [r.name for r in nets] == ["look-a", "look-b"]
    for record in nets:  # same values and Python types as a plain SELECT of the table
        assert tuple(record) == tuple(direct[record.id])
    assert nets[0].mtu == 1400 and nets[1].admin_state_up is False and nets[0].admin_state_up is True
    assert nets[0].availability_zone_hints == [] and nets[0].created_at == direct[net_a].created_at
    subs = together["subnets"]
    assert [r.cidr for r in subs] == ["10.61.0.0/24", "10.62.0.0/24", "2001:db8:61::/64"]
    assert subs[0].dns_nameservers == ["10.61.0.53"] and subs[0].ip_version == 4
    assert subs[1].gateway_ip is None and subs[2].ip_version == 6
    assert [(r.resource_id, r.tag) for r in together["tags"]] == [(net_a, "alpha"), (net_a, "zeta")]


async def test_lookups_of_one_name_are_concatenated_and_empty_ones_present(env):
    db, services = env
    net_a, net_b, subs = await _two_networks(services)
    async with db.read() as conn:
        found = await lookups.fetch(conn, [V4, V6, TAGS, NETWORKS], {"net_ids": [net_b]})
        nothing = await lookups.fetch(conn, [V4, V6, NETWORKS], {"net_ids": ["no-such-network"]})
    assert sorted((r.id, r.v) for r in found["by_version"]) == [(subs[2], 4)]
    assert found["tags"] == [] and [r.id for r in found["networks"]] == [net_b]
    assert nothing == {"by_version": [], "networks": []}
    async with db.read() as conn:
        both = await lookups.fetch(conn, [V4, V6], {"net_ids": [net_a]})
    assert sorted(r.v for r in both["by_version"]) == [4, 6]


def test_a_column_without_a_type_is_refused():
    with pytest.raises(TypeError, match="needs a type"):
        lookups.Lookup("bad", select(s.c.id, literal_column("1").label("x")))


async def test_fetch_by_ids_in_chunks_gives_what_one_statement_gives(env, monkeypatch):
    db, services = env
    net_a, net_b, _ = await _two_networks(services)
    await services.networks.replace_tags(ADMIN, net_b, ["beta", "aardvark"])
    by_ids = [
        lookups.Lookup(
            "tags", select(t.c.resource_id, t.c.tag).where(t.c.resource_id.in_(lookups.IDS)), order=("tag",)
        ),
        lookups.Lookup("networks", select(n).where(n.c.id.in_(lookups.IDS))),
    ]
    async with db.read() as conn:
        whole = await lookups.fetch_by_ids(conn, by_ids, [net_a, net_b])
        monkeypatch.setattr(lookups, "MAX_IDS", 1)
        chunked = await lookups.fetch_by_ids(conn, by_ids, [net_a, net_b])
    assert len(whole["tags"]) == 4 and len(whole["networks"]) == 2
    for name in ("tags", "networks"):
        assert sorted(chunked[name]) == sorted(whole[name])
    # within one id, the order asked for holds across chunks too
    assert [r.tag for r in chunked["tags"] if r.resource_id == net_b] == ["aardvark", "beta"]
