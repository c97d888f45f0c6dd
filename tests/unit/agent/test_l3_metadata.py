"""The router metadata proxies' bookkeeping (quark.agent.l3_metadata): which
namespace a proxy lives in, the spec keyed by router id, stale files removed."""

from __future__ import annotations

import os
from pathlib import Path

from quark.agent.l3_metadata import RouterProxies, same_namespace


def test_same_namespace_compares_the_network_namespace(tmp_path):
    assert same_namespace(os.getpid(), Path("/proc/self/ns/net"))
    assert not same_namespace(os.getpid(), tmp_path / "no-such-namespace")
    assert not same_namespace(os.getpid(), Path("/proc/self/ns/mnt"))  # another namespace's inode


def test_spec_keyed_by_router_and_stale_files_removed(tmp_path):
    proxies = RouterProxies("/run/md.sock", tmp_path / "l3", tmp_path / "netns")
    spec = proxies.spec("r1", "qr-r1")
    assert spec.router_id == "r1" and spec.network_id == "" and spec.namespace == "qr-r1"
    assert "--router-id" in spec.command() and spec.pid_file == tmp_path / "l3" / "r1" / "metadata-proxy.pid"
    for router_id in ("r1", "r2"):
        (tmp_path / "l3" / router_id).mkdir(parents=True)
        (tmp_path / "l3" / router_id / "metadata-proxy.pid").write_text("999999999")  # no such process
    proxies.remove_stale({"r1"})
    assert sorted(p.name for p in (tmp_path / "l3").iterdir()) == ["r1"]
    RouterProxies("/run/md.sock", tmp_path / "absent", tmp_path).remove_stale(set())  # no directory: nothing to do
