"""The unmodified `openstack` CLI and openstacksdk with Keystone tokens against Quark.

Quark is not in the kit's Keystone catalog (the kit is shared, the tests do
not register endpoints in it), so the clients are pointed at it the way a
user does for a service outside the catalog: ``network_endpoint_override``
in the cloud of a clouds.yaml (the kit's, with that one key added).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import openstack
import pytest
import yaml

pytestmark = pytest.mark.slow

OPENSTACK = str(Path(sys.executable).with_name("openstack"))


@pytest.fixture(scope="module")
def clouds_yaml(keystone_server, keystone, tmp_path_factory) -> Path:
    doc = yaml.safe_load(keystone.clouds_yaml.read_text())
    for cloud in doc["clouds"].values():
        cloud["network_endpoint_override"] = keystone_server.url
    path = tmp_path_factory.mktemp("clouds") / "clouds.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def osc(clouds_yaml: Path, cloud: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["OS_CLIENT_CONFIG_FILE"] = str(clouds_yaml)
    return subprocess.run(
        [OPENSTACK, "--os-cloud", cloud, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def osc_json(clouds_yaml: Path, cloud: str, *args: str):
    done = osc(clouds_yaml, cloud, *args, "-f", "json")
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout)


def test_openstack_cli_with_member_tokens(clouds_yaml, keystone):
    name = f"cli-{uuid.uuid4().hex[:8]}"
    net = osc_json(clouds_yaml, "demo-member", "network", "create", name)
    assert net["project_id"] == keystone.project_id("demo-member")
    sub = osc_json(
        clouds_yaml, "demo-member", "subnet", "create", "--network", name, "--subnet-range", "10.77.0.0/24", name
    )
    assert sub["cidr"] == "10.77.0.0/24"
    assert name in {n["Name"] for n in osc_json(clouds_yaml, "demo-member", "network", "list")}
    assert name in {n["Name"] for n in osc_json(clouds_yaml, "demo-reader", "network", "list")}
    assert name not in {n["Name"] for n in osc_json(clouds_yaml, "alt-member", "network", "list")}
    refused = osc(clouds_yaml, "alt-member", "network", "delete", net["id"])
    assert refused.returncode != 0
    assert osc(clouds_yaml, "demo-member", "network", "delete", net["id"]).returncode == 0


def test_openstacksdk_connections(keystone, keystone_server, monkeypatch):
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(keystone.clouds_yaml))
    demo = openstack.connect(cloud="demo-member", network_endpoint_override=keystone_server.url)
    alt = openstack.connect(cloud="alt-member", network_endpoint_override=keystone_server.url)
    try:
        net = demo.network.create_network(name=f"sdk-{uuid.uuid4().hex[:8]}")
        assert net.project_id == demo.current_project_id == keystone.project_id("demo-member")
        port = demo.network.create_port(network_id=net.id)
        assert port.project_id == net.project_id
        assert alt.network.find_network(net.id) is None
        assert net.id not in {n.id for n in alt.network.networks()}
        demo.network.delete_port(port)
        demo.network.delete_network(net)
    finally:
        demo.close()
        alt.close()
