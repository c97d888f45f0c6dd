"""The rate-limit store: GCRA on Redis, every class of one request in one script.

GCRA (the generic cell rate algorithm) keeps one number per (project, class):
the theoretical arrival time (TAT) of the next request if the project sent at
exactly the permitted rate. A limit of N requests per P seconds spaces requests
by ``interval = P / N`` and tolerates a burst of N (``tolerance = N * interval``):
a request is allowed when ``max(TAT, now) + interval - tolerance <= now``.
Compared with a sliding window it needs one key and no sorted set, and it
refills smoothly instead of at window edges.

The script runs atomically in Redis (one EVALSHA, one round trip), reads the
time from Redis itself so every host agrees on "now", and is all-or-nothing: a
request that one of its classes refuses consumes none of the others. Times are
integer microseconds (exact in Lua's doubles until the year 2255).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

# KEYS[i]: the TAT of one class; ARGV[2i-1], ARGV[2i]: its interval and tolerance (µs).
# Returns {allowed, then per class: remaining, reset (µs), retry_after (µs)}.
GCRA_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local allowed = 1
local out = {0}
local tats = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local tolerance = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local new_tat = tat + interval
  local allow_at = new_tat - tolerance
  if now < allow_at then
    allowed = 0
    table.insert(out, 0)
    table.insert(out, tat - now)
    table.insert(out, allow_at - now)
  else
    tats[i] = new_tat
    table.insert(out, math.floor((now - allow_at) / interval))
    table.insert(out, new_tat - now)
    table.insert(out, 0)
  end
end
if allowed == 1 then
  for i, key in ipairs(KEYS) do
    redis.call('SET', key, string.format('%.0f', tats[i]), 'PX', math.ceil((tats[i] - now) / 1000) + 1)
  end
end
out[1] = allowed
return out
"""

# A lease: up to ARGV[3] requests of one class (KEYS[1]) at once, as many as the
# budget holds now (at least one, or none). ARGV[1], ARGV[2]: interval, tolerance (µs).
# Returns {granted, remaining after it, reset (µs), retry_after (µs; 0 if granted)}.
LEASE_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local free = math.floor((now + tolerance - tat) / interval)
local granted = math.min(tonumber(ARGV[3]), free)
if granted < 1 then
  return {0, 0, tat - now, tat + interval - tolerance - now}
end
local new_tat = tat + granted * interval
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {granted, free - granted, new_tat - now, 0}
"""

MICROS = 1_000_000


@dataclass(frozen=True)
class Rate:
    """``count`` requests per ``period`` seconds, in bursts of up to ``count``."""

    count: int
    period: float

    @property
    def interval_us(self) -> int:
        return max(1, round(self.period * MICROS / self.count))


@dataclass(frozen=True)
class Verdict:
    """One class's answer: what the X-RateLimit-* headers say (seconds as floats)."""

    limit: int
    remaining: int
    reset: float  # until the class is back to a full burst
    retry_after: float  # until the next request would be allowed (0: allowed now)


@dataclass(frozen=True)
class Grant:
    """A lease's answer: ``granted`` requests taken (0: refused), and the class's state after it."""

    granted: int
    remaining: int
    reset: float
    retry_after: float


class RedisGcra:
    """The store: ``hit`` charges one request to several keys, or to none."""

    def __init__(self, url: str, timeout: float, key_prefix: str = "quark:rl:") -> None:
        # One immediate retry (a connection Redis closed since); a down Redis is
        # the caller's to absorb, fast, so no backoff. ``timeout`` bounds a whole
        # ``hit`` (asyncio.timeout) rather than each socket operation: redis-py's
        # per-operation timeouts cost a task per command (asyncio.wait_for).
        self.timeout = timeout
        self.client = aioredis.Redis.from_url(
            url, socket_timeout=None, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 1)
        )
        self.script = self.client.register_script(GCRA_SCRIPT)  # EVALSHA, loaded on NOSCRIPT
        self.lease_script = self.client.register_script(LEASE_SCRIPT)
        self.key_prefix = key_prefix

    def key(self, project_id: str, kind: str) -> str:
        # The project in braces: a Redis Cluster keeps a project's classes on one slot.
        return f"{self.key_prefix}{{{project_id}}}:{kind}"

    async def hit(self, project_id: str, rates: dict[str, Rate]) -> tuple[bool, dict[str, Verdict]]:
        """Charge one request to each class of ``rates``; (allowed, each class's verdict)."""
        kinds = list(rates)
        args: list[int] = []
        for kind in kinds:
            interval = rates[kind].interval_us
            args += [interval, interval * rates[kind].count]
        async with asyncio.timeout(self.timeout):
            raw = await self.script(keys=[self.key(project_id, k) for k in kinds], args=args)
        verdicts = {}
        for i, kind in enumerate(kinds):
            remaining, reset, retry_after = (int(x) for x in raw[1 + 3 * i : 4 + 3 * i])
            verdicts[kind] = Verdict(rates[kind].count, remaining, reset / MICROS, retry_after / MICROS)
        return bool(raw[0]), verdicts

    async def lease(self, project_id: str, kind: str, rate: Rate, want: int) -> Grant:
        """Take up to ``want`` requests of one class at once (as many as its budget holds)."""
        interval = rate.interval_us
        async with asyncio.timeout(self.timeout):
            raw = await self.lease_script(
                keys=[self.key(project_id, kind)], args=[interval, interval * rate.count, want]
            )
        granted, remaining, reset, retry_after = (int(x) for x in raw)
        return Grant(granted, remaining, reset / MICROS, retry_after / MICROS)

    async def close(self) -> None:
        await self.client.aclose()
