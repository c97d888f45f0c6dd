"""Database servers the tests start for themselves (a Galera cluster, a PostgreSQL
primary with its replica): started within a bounded time, always torn down.

A machine where they cannot start is a skip, or a failure when CI=true, as
tests/dbs.py treats the local database servers.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol, TypeVar

import pytest


class Startable(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


S = TypeVar("S", bound=Startable)


def unavailable(what: str, reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} not available in CI: {reason}")
    pytest.skip(f"{what} not available: {reason}")


def _exit_on_sigterm():
    """A SIGTERM (a CI timeout) unwinds the stack, so the servers are still torn down; the old handler."""
    if threading.current_thread() is not threading.main_thread():
        return None
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return None
    return signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))


@contextmanager
def started(servers: S, base: Path, what: str, details: Callable[[], str] = str) -> Iterator[S]:
    """``servers`` started (else a skip, or a failure with CI=true, with ``details()``);
    stopped and ``base`` removed after, always."""
    previous = _exit_on_sigterm()
    try:
        try:
            servers.start()
        except (OSError, subprocess.SubprocessError, RuntimeError, TimeoutError) as exc:
            unavailable(what, f"{exc}{details()}")
        yield servers
    finally:
        servers.stop()
        shutil.rmtree(base, ignore_errors=True)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
