"""`quark serve --workers 2` whose master is killed outright (SIGKILL: no code of
its runs) leaves no worker serving: each asked the kernel for a SIGTERM when its
parent dies (quark.parent_death)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.servers import QUARK, free_port

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")]


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    todo = [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = {int(c) for c in (task / "children").read_text().split()}
            except OSError:
                continue
            todo.extend(children - found)
            found |= children
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has stopped; only its reaping is pending


def _serving(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def test_workers_exit_when_the_master_is_killed(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    base = {k: v for k, v in os.environ.items() if not k.startswith("QUARK_")}
    proc = subprocess.Popen(
        [QUARK, "serve", "--port", str(port), "--workers", "2", "--data-dir", str(tmp_path)],
        env=base,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers: set[int] = set()
    try:
        deadline = time.time() + 60
        while not (_serving(url) and len(workers := _descendants(proc.pid)) >= 2):
            assert proc.poll() is None, "quark serve exited"
            assert time.time() < deadline, "quark serve did not start"
            time.sleep(0.2)
        time.sleep(1)  # both workers past their start (the second may still be loading)
        workers = _descendants(proc.pid)
        proc.kill()
        proc.wait(timeout=10)
        deadline = time.time() + 10
        while (alive := {pid for pid in workers if _alive(pid)}) and time.time() < deadline:
            time.sleep(0.2)
        assert not alive, f"workers {sorted(alive)} outlived their master"
        assert not _serving(url)
    finally:
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
