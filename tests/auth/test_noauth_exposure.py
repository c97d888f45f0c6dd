"""noauth makes every caller admin: `quark serve` refuses a non-loopback host with it
unless noauth_allow_remote is set, and says so naming the setting."""

from __future__ import annotations

import os
import subprocess

import httpx
import pytest

from quark.cli.main import _is_loopback
from tests.servers import QUARK, free_port

pytestmark = pytest.mark.slow


def serve(tmp_path, host: str, **env: str) -> subprocess.Popen:
    base = {k: v for k, v in os.environ.items() if not k.startswith("QUARK_")}
    return subprocess.Popen(
        [QUARK, "serve", "--host", host, "--port", str(free_port()), "--data-dir", str(tmp_path)],
        env={**base, **env},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_noauth_refuses_a_public_address(tmp_path, host):
    proc = serve(tmp_path, host)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "noauth_allow_remote" in err and "QUARK_NOAUTH_ALLOW_REMOTE" in err


def test_noauth_allow_remote_lets_it_start(tmp_path):
    port = free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith("QUARK_")}
    proc = subprocess.Popen(
        [QUARK, "serve", "--host", "0.0.0.0", "--port", str(port), "--data-dir", str(tmp_path)],
        env={**base, "QUARK_NOAUTH_ALLOW_REMOTE": "true"},
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, "quark serve exited"
            subprocess.run(["sleep", "0.2"], check=True)
        else:
            raise AssertionError("quark serve did not start")
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_loopback_names():
    assert _is_loopback("127.0.0.1") and _is_loopback("::1") and _is_loopback("localhost")
    assert _is_loopback("127.0.0.2")
    assert not _is_loopback("0.0.0.0") and not _is_loopback("::") and not _is_loopback("192.0.2.1")
