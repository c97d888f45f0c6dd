"""Nova's network-vif-plugged events carry a token of the [nova] service user
(keystoneauth1 options, as Neutron's [nova] section), checked with the real Keystone."""

from __future__ import annotations

import httpx
import pytest
import yaml

from quark.config import Settings
from quark.services.dataplane.event_sender import HttpEventSender
from quark.services.dataplane.nova_events import NovaEvents

pytestmark = pytest.mark.slow

EVENT = {"name": "network-vif-plugged", "server_uuid": "s1", "tag": "p1", "status": "completed"}


def nova_section(keystone) -> dict:
    """What an operator writes under [nova] (here: the kit's nova user)."""
    auth = yaml.safe_load(keystone.clouds_yaml.read_text())["clouds"]["nova"]["auth"]
    return {"auth_type": "password", **auth, "region_name": "RegionOne", "endpoint_type": "public"}


def recording_sender(settings: Settings, answers: list[int]) -> tuple[HttpEventSender, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(answers.pop(0) if answers else 200, json={})

    sender = HttpEventSender.from_settings(settings)
    sender.client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return sender, seen


def token_user(keystone, token: str) -> str:
    """The user name Keystone says ``token`` belongs to."""
    admin = keystone.auth("admin").session
    resp = admin.get(f"{keystone.url}/auth/tokens", headers={"X-Subject-Token": token})
    return str(resp.json()["token"]["user"]["name"])


async def test_events_carry_the_nova_users_token(keystone):
    settings = Settings(
        nova_events_url="http://nova.invalid/v2.1/os-server-external-events", nova=nova_section(keystone)
    )
    assert NovaEvents(settings, clock=None).enabled
    sender, seen = recording_sender(settings, [401, 200])
    try:
        first = await sender.send([EVENT])
        assert not first.ok and first.retry  # a refused token: retried with a new one
        second = await sender.send([EVENT])
        assert second.ok
    finally:
        await sender.close()
    tokens = [r.headers["X-Auth-Token"] for r in seen]
    assert tokens[0] != tokens[1]
    assert token_user(keystone, tokens[1]) == "nova"
    assert str(seen[1].url) == settings.nova_events_url


async def test_no_nova_section_no_token():
    settings = Settings(nova_events_url="http://nova.invalid/x")
    sender, seen = recording_sender(settings, [])
    try:
        assert (await sender.send([EVENT])).ok
    finally:
        await sender.close()
    assert "X-Auth-Token" not in seen[0].headers
    assert not NovaEvents(Settings(), clock=None).enabled
