"""The metadata agent's parts without sockets: signing, port lookup (and its
cache), the proxy's header rewriting, the handler's forwarding to Nova, and
the isolated-metadata route in dnsmasq's options."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os

import httpx
import pytest

from quark.agent import dnsmasq as d
from quark.agent.client import ApiError
from quark.agent.metadata import proxy, signing
from quark.agent.metadata.agent import MetadataHandler, unix_listener
from quark.agent.metadata.lookup import Instance, PortLookup
from quark.agent.metadata.spawn import ProxySpec, running_pid

NET, OTHER_NET, ROUTER = "net-1", "net-2", "router-1"
VM_PORT = {"id": "port-1", "network_id": NET, "device_id": "vm-1", "project_id": "proj-1"}


# --- signing -------------------------------------------------------------------------


def test_signature_is_hmac_sha256_hex_of_the_instance_id():
    expected = hmac.new(b"s3cret", b"vm-1", hashlib.sha256).hexdigest()
    assert signing.sign("s3cret", "vm-1") == expected
    assert signing.verify("s3cret", "vm-1", expected)
    assert not signing.verify("other", "vm-1", expected)
    assert not signing.verify("s3cret", "vm-2", expected)


# --- lookup ----------------------------------------------------------------------------


class FakePorts:
    def __init__(self, ports):
        self.ports = ports
        self.calls: list[list[tuple[str, str]]] = []

    async def __call__(self, params):
        self.calls.append(list(params))
        nets = {v for k, v in params if k == "network_id"}
        ips = {v.split("=", 1)[1] for k, v in params if k == "fixed_ips"}
        device = {v for k, v in params if k == "device_id"}
        owners = {v for k, v in params if k == "device_owner"}
        return [
            p
            for p in self.ports
            if (not nets or p["network_id"] in nets)
            and (not ips or p.get("ip") in ips)
            and (not device or p["device_id"] in device)
            and (not owners or p.get("device_owner") in owners)
        ]


async def test_lookup_by_network_and_address_and_cache():
    clock = [0.0]
    ports = FakePorts(
        [{**VM_PORT, "ip": "10.0.0.5"}, {**VM_PORT, "id": "p2", "network_id": OTHER_NET, "ip": "10.0.0.6"}]
    )
    lookup = PortLookup(ports, ttl=5, clock=lambda: clock[0])
    assert await lookup.instance("10.0.0.5", network_id=NET) == Instance("vm-1", "proj-1", "port-1")
    assert ports.calls[0] == [("network_id", NET), ("fixed_ips", "ip_address=10.0.0.5")]
    # the address on another network is not this network's instance
    assert await lookup.instance("10.0.0.6", network_id=NET) is None
    # cached for ttl seconds, then asked again
    await lookup.instance("10.0.0.5", network_id=NET)
    assert len(ports.calls) == 2
    clock[0] = 6
    await lookup.instance("10.0.0.5", network_id=NET)
    assert len(ports.calls) == 3


async def test_lookup_through_a_router_and_ambiguous_or_unowned_ports():
    ports = FakePorts(
        [
            {"id": "ri1", "network_id": NET, "device_id": ROUTER, "device_owner": "network:router_interface"},
            {"id": "gw", "network_id": "ext", "device_id": ROUTER, "device_owner": "network:router_gateway"},
            {**VM_PORT, "ip": "10.0.0.5"},
            {**VM_PORT, "id": "ext-vm", "network_id": "ext", "device_id": "vm-x", "ip": "10.0.0.7"},
            {**VM_PORT, "id": "bare", "device_id": "", "ip": "10.0.0.8"},
        ]
    )
    lookup = PortLookup(ports)
    assert await lookup.router_networks(ROUTER) == (NET,)
    assert (await lookup.instance("10.0.0.5", router_id=ROUTER)).instance_id == "vm-1"
    assert await lookup.instance("10.0.0.7", router_id=ROUTER) is None  # the gateway's network is not served
    assert await lookup.instance("10.0.0.8", network_id=NET) is None  # no instance behind the port
    ports.ports.append({**VM_PORT, "id": "dup", "device_id": "vm-2", "ip": "10.0.0.5"})
    assert await PortLookup(ports).instance("10.0.0.5", network_id=NET) is None  # two ports: not found
    with pytest.raises(ValueError):
        await lookup.instance("10.0.0.5")


# --- the proxy's rewriting ---------------------------------------------------------------


def test_proxy_replaces_what_the_vm_claims():
    head = (
        b"GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: 169.254.169.254\r\n"
        b"X-Forwarded-For: 10.0.0.99\r\nx-quark-network-id: evil\r\nX-Instance-ID: vm-evil\r\n"
        b"X-Instance-ID-Signature: abc\r\nConnection: keep-alive\r\nAccept: */*\r\n\r\n"
    )
    method, target, headers = proxy.parse_head(head)
    out = proxy.rewrite(method, target, headers, "10.0.0.5", network_id=NET).decode()
    lines = out.split("\r\n")
    assert lines[0] == "GET /latest/meta-data/instance-id HTTP/1.1"
    assert "X-Forwarded-For: 10.0.0.5" in lines and "X-Quark-Network-ID: net-1" in lines
    assert "Host: 169.254.169.254" in lines and "Accept: */*" in lines and "Connection: close" in lines
    lowered = out.lower()
    assert "10.0.0.99" not in out and "evil" not in lowered and "abc" not in out and "keep-alive" not in lowered
    routed = proxy.rewrite(method, target, headers, "10.0.0.5", router_id=ROUTER).decode()
    assert "X-Quark-Router-ID: router-1" in routed and "Network-ID" not in routed


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nbad header\r\n\r\n", 400),
    ],
)
def test_proxy_refuses_malformed_heads(head, status):
    with pytest.raises(proxy.BadRequest) as exc:
        proxy.parse_head(head)
    assert exc.value.status == status


def test_proxy_body_length():
    assert proxy.body_length([("Content-Length", "12")]) == 12
    assert proxy.body_length([]) == 0
    for headers, status in (
        ([("Transfer-Encoding", "chunked")], 411),
        ([("Content-Length", "x")], 400),
        ([("Content-Length", "1"), ("content-length", "2")], 400),
        ([("Content-Length", str(10**9))], 413),
    ):
        with pytest.raises(proxy.BadRequest) as exc:
            proxy.body_length(headers)
        assert exc.value.status == status


def test_proxy_needs_exactly_one_key():
    with pytest.raises(ValueError):
        proxy.MetadataProxy("/x")
    with pytest.raises(ValueError):
        proxy.MetadataProxy("/x", network_id=NET, router_id=ROUTER)


# --- the handler -------------------------------------------------------------------------


def _handler(nova, ports, secret="s3cret"):
    http = httpx.AsyncClient(transport=httpx.MockTransport(nova))
    return MetadataHandler(PortLookup(FakePorts(ports)), http, secret=secret, nova_url="http://nova:8775/")


async def _call(handler, path="/latest/meta-data/instance-id", headers=None):
    transport = httpx.ASGITransport(app=handler.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as client:
        return await client.get(path, headers=headers or {})


async def test_handler_signs_and_forwards_to_nova():
    seen = []

    def nova(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text="vm-1", headers={"Content-Type": "text/plain; charset=utf-8"})

    handler = _handler(nova, [{**VM_PORT, "ip": "10.0.0.5"}])
    resp = await _call(
        handler,
        "/openstack/latest/meta_data.json?x=1",
        {"X-Forwarded-For": "10.0.0.5", "X-Quark-Network-ID": NET},
    )
    assert resp.status_code == 200 and resp.text == "vm-1"
    req = seen[0]
    assert str(req.url) == "http://nova:8775/openstack/latest/meta_data.json?x=1"
    assert req.headers["X-Instance-ID"] == "vm-1" and req.headers["X-Tenant-ID"] == "proj-1"
    assert req.headers["X-Forwarded-For"] == "10.0.0.5"
    assert req.headers["X-Instance-ID-Signature"] == signing.sign("s3cret", "vm-1")
    assert "x-quark-network-id" not in req.headers


@pytest.mark.parametrize(("nova_status", "status"), [(403, 403), (404, 404), (409, 409), (500, 500), (502, 500)])
async def test_handler_maps_nova_errors(nova_status, status):
    handler = _handler(lambda r: httpx.Response(nova_status, text="secret detail"), [{**VM_PORT, "ip": "10.0.0.5"}])
    resp = await _call(handler, headers={"X-Forwarded-For": "10.0.0.5", "X-Quark-Network-ID": NET})
    assert resp.status_code == status and "secret detail" not in resp.text


async def test_handler_unknown_address_missing_headers_and_api_failure():
    def nova(request):
        raise AssertionError("Nova must not be asked")

    handler = _handler(nova, [{**VM_PORT, "ip": "10.0.0.5"}])
    assert (await _call(handler, headers={"X-Forwarded-For": "10.0.0.9", "X-Quark-Network-ID": NET})).status_code == 404
    assert (await _call(handler, headers={"X-Forwarded-For": "10.0.0.5"})).status_code == 400

    async def broken(params):
        raise ApiError(503, "down")

    failing = MetadataHandler(PortLookup(broken), httpx.AsyncClient(), secret="s", nova_url="http://nova")
    resp = await _call(failing, headers={"X-Forwarded-For": "10.0.0.5", "X-Quark-Network-ID": NET})
    assert resp.status_code == 500


# --- isolated metadata in dnsmasq's options ------------------------------------------------


def _net(hosts=(), gateway="10.0.0.1", routes=()):
    return d.DhcpNetwork.from_api(
        {
            "id": NET,
            "mtu": 1450,
            "dhcp_port": {
                "id": "dp",
                "mac_address": "fa:16:3e:00:00:02",
                "fixed_ips": [{"subnet_id": "s4", "ip_address": "10.0.0.2"}],
            },
            "subnets": [
                {
                    "id": "s4",
                    "cidr": "10.0.0.0/24",
                    "ip_version": 4,
                    "gateway_ip": gateway,
                    "host_routes": list(routes),
                },
                {"id": "s6", "cidr": "2001:db8::/64", "ip_version": 6, "gateway_ip": "2001:db8::1"},
            ],
            "hosts": list(hosts),
        }
    )


def test_metadata_route_only_on_isolated_subnets_unless_forced():
    assert d.metadata_nexthops(_net()) == {"s4": "10.0.0.2"}
    router = {"port_id": "ri", "mac_address": "fa:16:3e:00:00:01", "ip_address": "10.0.0.1", "subnet_id": "s4"}
    assert d.metadata_nexthops(_net([router])) == {}  # a router holds the gateway: metadata goes through it
    assert d.metadata_nexthops(_net([router]), force=True) == {"s4": "10.0.0.2"}
    assert d.metadata_nexthops(_net(gateway=None)) == {"s4": "10.0.0.2"}


def test_metadata_route_in_option_121_with_the_default_route():
    net = _net()
    opts = d.opts_file(net, d.metadata_nexthops(net))
    value = "169.254.169.254/32,10.0.0.2,0.0.0.0/0,10.0.0.1"
    assert f"tag:subnet-s4,option:classless-static-route,{value}\n" in opts
    assert f"tag:subnet-s4,249,{value}\n" in opts
    assert "classless" not in d.opts_file(net)  # no metadata, no host routes: no option 121
    routed = _net(routes=[{"destination": "10.9.0.0/16", "nexthop": "10.0.0.254"}])
    assert "169.254.169.254/32,10.0.0.2,10.9.0.0/16,10.0.0.254,0.0.0.0/0,10.0.0.1" in d.opts_file(
        routed, d.metadata_nexthops(routed)
    )


# --- the proxy on sockets (no namespace) ---------------------------------------------------


async def _exchange(port: int, raw: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    return answer


async def test_proxy_relays_to_the_agent_socket_with_the_peer_address(tmp_path):
    received: list[bytes] = []

    async def agent(reader, writer):
        received.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nvm-1")
        await writer.drain()
        writer.close()

    sock = str(tmp_path / "agent.sock")
    agent_server = await asyncio.start_unix_server(agent, sock)
    md = proxy.MetadataProxy(sock, network_id=NET)
    server = await asyncio.start_server(md.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        raw = b"GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.9.9.9\r\n\r\n"
        answer = await _exchange(port, raw)
        assert answer.endswith(b"\r\n\r\nvm-1") and answer.startswith(b"HTTP/1.1 200 OK")
        head = received[0].decode()
        assert "X-Forwarded-For: 127.0.0.1\r\n" in head and f"X-Quark-Network-ID: {NET}\r\n" in head
        assert "10.9.9.9" not in head
        chunked = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        assert (await _exchange(port, chunked)).startswith(b"HTTP/1.1 411 ")
        assert len(received) == 1  # refused requests never reach the agent
        agent_server.close()
        await agent_server.wait_closed()
        (tmp_path / "agent.sock").unlink()
        assert (await _exchange(port, raw)).startswith(b"HTTP/1.1 503 ")
    finally:
        server.close()
        await server.wait_closed()


def test_proxy_command_line_and_agent_socket_mode(tmp_path):
    spec = ProxySpec("ns1", "/run/md.sock", tmp_path, router_id=ROUTER, bind="0.0.0.0", port=9697)
    cmd = spec.command()
    assert cmd[1:3] == ["-m", "quark.agent.metadata.proxy"]
    assert ["--router-id", ROUTER] == cmd[cmd.index("--router-id") : cmd.index("--router-id") + 2]
    assert f"--pid-file={tmp_path / 'metadata-proxy.pid'}" in cmd and "9697" in cmd
    assert running_pid(spec) is None
    spec.pid_file.write_text(f"{os.getpid()}\n")  # a live pid that is not a proxy of this spec
    assert running_pid(spec) is None
    listener = unix_listener(str(tmp_path / "sub" / "agent.sock"))
    try:
        assert (tmp_path / "sub" / "agent.sock").stat().st_mode & 0o777 == 0o600
    finally:
        listener.close()
