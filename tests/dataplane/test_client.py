"""The agent API client against the fake server: long-poll semantics,
reports and status pushes (no kernel needed)."""

from __future__ import annotations

import asyncio
import time

from quark.agent.client import AgentApiClient
from quark.agent.watch import Watch


async def test_long_poll_returns_at_once_on_a_new_generation_and_holds_otherwise(fake_api):
    fake_api.set_desired("h1", [], [])
    async with AgentApiClient(fake_api.url) as client:
        doc = await client.desired_state("h1")
        assert doc["generation"] == 1
        t0 = time.monotonic()
        same = await client.desired_state("h1", since=doc["generation"], wait=1)
        assert same["generation"] == 1 and time.monotonic() - t0 >= 0.9

        async def bump():
            await asyncio.sleep(0.3)
            fake_api.set_desired("h1", [], [{"id": "n", "network_type": "vxlan", "segmentation_id": 1}])

        t0 = time.monotonic()
        task = asyncio.create_task(bump())
        new = await client.desired_state("h1", since=1, wait=30)
        await task
        # Returned on the change (0.3 s in), not when the wait ran out: a generous bound, half the wait.
        assert new["generation"] == 2 and time.monotonic() - t0 < 15


async def test_watch_wakes_on_change_and_client_reports_and_pushes(fake_api):
    fake_api.set_desired("h2", [{"id": "p1", "network_id": "n", "mac_address": "fa:16:3e:00:00:01"}], [])
    async with AgentApiClient(fake_api.url) as client:
        watch = Watch(lambda since, wait: client.desired_state("h2", since=since, wait=wait), wait=1)
        task = asyncio.create_task(watch.run())
        try:
            await asyncio.wait_for(watch.changed.wait(), 5)
            watch.changed.clear()
            assert await client.port_status("h2", {"p1": "ACTIVE", "other": "ACTIVE"}) == ["p1"]
            await asyncio.wait_for(watch.changed.wait(), 5)
            assert watch.document["ports"][0]["status"] == "ACTIVE"
        finally:
            task.cancel()
        agent = await client.report(
            host="h2",
            agent_type="Quark L2 agent",
            binary="quark-agent",
            configurations={"tunnel_ip": "10.0.0.1"},
            start_flag=True,
        )
        assert agent["host"] == "h2"
        assert fake_api.reports[-1]["start_flag"] is True
