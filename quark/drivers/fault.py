"""``fault``: a driver that injects faults, for tests and benchmarks.

Options (the ``fault`` table of ``backend_driver_options``):

- ``failure_rate`` (0..1): a call fails with a retryable error, after its latency;
- ``permanent_rate`` (0..1): a call fails for good (the job fails);
- ``latency`` (seconds): each call sleeps a random time up to this;
- ``hang_rate`` (0..1): a call never returns (the worker's timeout ends it);
- ``fail_ids``: resource ids whose every call fails for good;
- ``record_path``: a file every call appends a JSON line to, when it starts
  (``"phase": "start"``) and when it succeeded (``"done"``), with the job, the
  resource, the operation, the revision and the process id: what the fault
  tests count (several worker processes append to one file);
- ``seed``: of the random draws (per process).

A call that succeeded is also kept in ``calls`` (in the process).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections.abc import Mapping
from typing import Any

from quark.drivers.base import Change, Driver, DriverError, RetryableError


class FaultDriver(Driver):
    def __init__(self, name: str, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(name, options)
        o = self.options
        self.failure_rate = float(o.get("failure_rate", 0.0))
        self.permanent_rate = float(o.get("permanent_rate", 0.0))
        self.latency = float(o.get("latency", 0.0))
        self.hang_rate = float(o.get("hang_rate", 0.0))
        self.fail_ids = frozenset(o.get("fail_ids", ()))
        self.record_path = str(o.get("record_path", ""))
        seed = o.get("seed")
        self.random = random.Random(None if seed is None else f"{seed}-{os.getpid()}")
        self.calls: list[Change] = []

    def _record(self, phase: str, change: Change) -> None:
        if not self.record_path:
            return
        line = {
            "phase": phase,
            "job": change.job_id,
            "kind": change.kind,
            "op": change.operation,
            "id": change.resource_id,
            "revision": change.revision,
            "pid": os.getpid(),
            "at": time.time(),
        }
        fd = os.open(self.record_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (json.dumps(line) + "\n").encode())  # one write: lines of processes never mix
        finally:
            os.close(fd)

    async def apply(self, change: Change) -> None:
        self._record("start", change)
        draw = self.random.random()
        if draw < self.hang_rate:
            await asyncio.Event().wait()  # until the worker's timeout cancels it
        if self.latency:
            await asyncio.sleep(self.random.uniform(0, self.latency))
        if change.resource_id in self.fail_ids or self.random.random() < self.permanent_rate:
            raise DriverError(f"injected permanent failure of {change.operation} {change.kind}")
        if self.random.random() < self.failure_rate:
            raise RetryableError(f"injected failure of {change.operation} {change.kind}")
        self.calls.append(change)
        self._record("done", change)
