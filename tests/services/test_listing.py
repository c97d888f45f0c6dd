"""List markers are looked up as the caller sees rows: another project's id
positions no page (it answers as an id that never existed); one's own does."""

from __future__ import annotations

import uuid

from quark.services.common.listing import ListQuery
from tests.services.conftest import ADMIN, member


async def test_a_marker_the_caller_cannot_see_is_unknown(env):
    a, b = member(), member()
    first = await env.network(a, name="iso-a")
    last = await env.network(a, name="iso-z")
    hidden = await env.network(b, name="iso-m")  # sorts between A's two networks
    networks = env.services.networks

    async def page(ctx, marker: str) -> list[str]:
        query = ListQuery(sorts=[("name", "asc")], marker=marker, filters={"name": ["iso-a", "iso-m", "iso-z"]})
        return [n["id"] for n in await networks.list(ctx, query)]

    assert await page(a, first["id"]) == [last["id"]]
    assert await page(a, hidden["id"]) == await page(a, str(uuid.uuid4())) == []
    assert await page(ADMIN, hidden["id"]) == [last["id"]]
    assert await page(b, hidden["id"]) == []  # B sees none of A's networks after its own
