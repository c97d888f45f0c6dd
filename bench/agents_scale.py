"""Thousands of hosts' agents on one Quark (issue 21, "Thousands of hosts").

N simulated hosts, each doing what a host's real agents do (quark.agent:
``watch.py``, ``client.py``, ``l2.py``) against ``quark serve --workers 2`` on
PostgreSQL:

- register as a Quark L2 agent (``POST /v2.0/agents/report``, start_flag
  true, a bridge mapping for ``physnet1``) and heartbeat every
  ``--report-interval`` seconds (the real agent: 5 s; Neutron's: 30 s);
- long-poll ``GET /v2.0/hosts/{host}/desired_state`` and ``dhcp_state``
  (first without ``since``, then ``since=<generation>&wait=30``, exactly as
  ``AgentApiClient._watch``): two held requests per host at all times;
- push ``PUT /v2.0/hosts/{host}/port_status`` ACTIVE for every port its
  desired state shows that is not ACTIVE yet.

Phases, each with every agent connected:

1. idle, heartbeats paused: the server processes' RSS and CPU, and the
   database's transactions and rows read per second (``pg_stat_database``
   deltas; the agents' watches only: the O(1)-in-N target);
2. idle with heartbeats on: the same, the heartbeats' cost added;
3. binds: ``--binds`` ports bound one after another (``PUT binding:host_id``
   to a random host); latency = until that host's ``desired_state`` watch
   returns a document showing the port;
4. restart storm: every agent drops its connections and resyncs at once
   (report with start_flag, both documents without ``since``); time until
   all have their full state, while another client lists ``GET /v2.0/ports``
   in a loop (its p99 against the same loop before the storm).

The simulated agents use the harness's light keep-alive connection (an
httpx request costs ~2 ms of client CPU, which on this 2-core machine would
be taken from the server under test); the requests are the real agent's.

    .venv/bin/python bench/agents_scale.py                     # 1,000 and 5,000 hosts
    .venv/bin/python bench/agents_scale.py --agents 200 --idle 10

The last lines are the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import resource
import sys
import time
from pathlib import Path

import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

WAIT = 30  # the agent's long-poll wait (quark.agent.watch.Watch)
L2 = {"agent_type": "Quark L2 agent", "binary": "quark-agent"}
CONFIG = {"bridge_mappings": {"physnet1": "br-phys"}, "tunnel_ip": "", "tunnel_types": [], "port_filter": False}


class Agent:
    """One simulated host: two long-polls, a heartbeat, status pushes."""

    def __init__(self, url: str, host: str, pool: Pool) -> None:
        self.url, self.host, self.pool = url, host, pool
        self.docs: dict[str, dict] = {}
        self.seen: dict[str, float] = {}  # port id -> when its desired_state first showed it
        self.synced = asyncio.Event()
        self.pushed: set[str] = set()

    async def report(self, start_flag: bool) -> None:
        body = {"agent": {"host": self.host, **L2, "configurations": CONFIG, "start_flag": start_flag}}
        await self.pool.call("POST", "/v2.0/agents/report", body)

    async def watch(self, what: str) -> None:
        conn = harness.HttpConnection(self.url)
        since = None
        try:
            while True:
                path = f"/v2.0/hosts/{self.host}/{what}" + (f"?since={since}&wait={WAIT}" if since is not None else "")
                try:
                    status, data = await conn.request("GET", path)
                except (ConnectionError, OSError, asyncio.IncompleteReadError):
                    conn.close()
                    await asyncio.sleep(0.5 + random.random())
                    continue
                if status != 200:
                    await asyncio.sleep(0.5 + random.random())
                    continue
                doc = orjson.loads(data)
                since = doc["generation"]
                self.docs[what] = doc
                if what == "desired_state":
                    await self.on_desired(doc)
                if len(self.docs) == 2:
                    self.synced.set()
        finally:
            conn.close()

    async def on_desired(self, doc: dict) -> None:
        now = time.perf_counter()
        todo = {}
        for port in doc["ports"]:
            self.seen.setdefault(port["id"], now)
            if port["status"] != "ACTIVE" and port["id"] not in self.pushed:
                todo[port["id"]] = "ACTIVE"
        if todo:
            self.pushed |= set(todo)
            await self.pool.call("PUT", f"/v2.0/hosts/{self.host}/port_status", {"ports": todo})


class Pool:
    """A few shared connections for the agents' short requests (reports, statuses)."""

    def __init__(self, url: str, size: int) -> None:
        self.conns: asyncio.Queue[harness.HttpConnection] = asyncio.Queue()
        for _ in range(size):
            self.conns.put_nowait(harness.HttpConnection(url))
        self.errors = 0

    async def call(self, method: str, path: str, body: object = None) -> None:
        conn = await self.conns.get()
        try:
            for attempt in range(5):
                try:
                    status, data = await conn.request(method, path, body)
                except (ConnectionError, OSError, asyncio.IncompleteReadError):
                    conn.close()
                    await asyncio.sleep(0.2 * (attempt + 1))
                    continue
                if status < 300:
                    return
                await asyncio.sleep(0.2 * (attempt + 1))
            self.errors += 1
        finally:
            self.conns.put_nowait(conn)


class Fleet:
    def __init__(self, url: str, n: int, report_interval: float) -> None:
        self.pool = Pool(url, 16)
        self.agents = [Agent(url, f"sim-{i:05d}", self.pool) for i in range(n)]
        self.report_interval = report_interval
        self.tasks: list[asyncio.Task] = []
        self.heartbeats_on = True
        self.beats: set[asyncio.Task] = set()

    async def register(self) -> None:
        await asyncio.gather(*[a.report(True) for a in self.agents])

    async def connect(self, per_second: float = 0) -> None:
        """Start every agent's watches: all at once, or ``per_second`` agents a
        second (a fleet booting; the restart storm is the all-at-once case)."""
        for i, agent in enumerate(self.agents):
            agent.synced.clear()
            agent.docs.clear()
            self.tasks += [asyncio.create_task(agent.watch(w)) for w in ("desired_state", "dhcp_state")]
            if per_second and i % 10 == 9:
                await asyncio.sleep(10 / per_second)

    async def heartbeat(self) -> None:
        """Every agent once per interval, spread evenly over it."""
        while True:
            step = self.report_interval / len(self.agents)
            for agent in self.agents:
                if self.heartbeats_on:  # held until done (a task only the loop holds may be collected)
                    task = asyncio.create_task(agent.report(False))
                    self.beats.add(task)
                    task.add_done_callback(self.beats.discard)
                await asyncio.sleep(step)

    async def synced(self) -> None:
        await asyncio.gather(*[a.synced.wait() for a in self.agents])

    async def drop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.tasks = []


def note(text: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def server_processes(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def rss_mib(procs: list[psutil.Process]) -> float:
    return sum(p.memory_info().rss for p in procs) / 2**20


async def db_counters(conn) -> tuple[int, int]:
    """Transactions (the server's reads roll back: each poll is one) and rows read.
    (pg_stat_statements is not preloaded on this machine's server.)"""
    row = await conn.fetchrow(
        "SELECT xact_commit + xact_rollback, tup_returned + tup_fetched "
        "FROM pg_stat_database WHERE datname = current_database()"
    )
    return int(row[0]), int(row[1])


async def measure_idle(conn, procs: list[psutil.Process], seconds: float) -> dict:
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    before, cpu0, t0 = await db_counters(conn), harness.cpu_seconds([p.pid for p in procs]), time.perf_counter()
    await asyncio.sleep(seconds)
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    after, cpu1, t1 = await db_counters(conn), harness.cpu_seconds([p.pid for p in procs]), time.perf_counter()
    wall = t1 - t0
    return {
        "xact_s": (after[0] - before[0]) / wall,
        "rows_s": (after[1] - before[1]) / wall,
        "cpu": (cpu1 - cpu0) / wall,
        "rss": rss_mib(procs),
    }


async def lister(url: str, latencies: list[float], stop: asyncio.Event) -> None:
    conn = harness.HttpConnection(url)
    try:
        while not stop.is_set():
            start = time.perf_counter()
            status, _ = await conn.request("GET", "/v2.0/ports")
            if status == 200:
                latencies.append((time.perf_counter() - start) * 1000)
            await asyncio.sleep(0.05)
    finally:
        conn.close()


async def setup_network(url: str, binds: int) -> list[str]:
    conn = harness.HttpConnection(url)
    net = {"name": "scale", "provider:network_type": "flat", "provider:physical_network": "physnet1"}
    status, data = await conn.request("POST", "/v2.0/networks", {"network": net})
    assert status == 201, data
    net_id = orjson.loads(data)["network"]["id"]
    sub = {"network_id": net_id, "ip_version": 4, "cidr": "10.200.0.0/16", "enable_dhcp": False}
    status, data = await conn.request("POST", "/v2.0/subnets", {"subnet": sub})
    assert status == 201, data
    ports = []
    for i in range(binds):
        body = {"port": {"network_id": net_id, "device_owner": "compute:nova", "device_id": f"vm-{i}"}}
        status, data = await conn.request("POST", "/v2.0/ports", body)
        assert status == 201, data
        ports.append(orjson.loads(data)["port"]["id"])
    conn.close()
    return ports


async def bind_latencies(url: str, fleet: Fleet, ports: list[str], timeout: float) -> tuple[list[float], int]:
    conn = harness.HttpConnection(url)
    latencies, missed = [], 0
    for port_id in ports:
        agent = random.choice(fleet.agents)
        start = time.perf_counter()
        for _ in range(10):  # a 503 (pool exhausted on an overloaded machine): again
            status, data = await conn.request(
                "PUT", f"/v2.0/ports/{port_id}", {"port": {"binding:host_id": agent.host}}
            )
            if status != 503:
                break
            await asyncio.sleep(1)
        assert status == 200, data
        while port_id not in agent.seen and time.perf_counter() - start < timeout:
            await asyncio.sleep(0.002)
        if port_id in agent.seen:
            latencies.append((agent.seen[port_id] - start) * 1000)
        else:
            missed += 1
        await asyncio.sleep(0.2)
    conn.close()
    return latencies, missed


async def case(url: str, db_url: str, pid: int, n: int, args: argparse.Namespace) -> dict:
    import asyncpg

    db = await asyncpg.connect(db_url.replace("postgresql+asyncpg", "postgresql"))
    procs = server_processes(pid)
    ports = await setup_network(url, args.binds)
    await asyncio.sleep(2)
    rss_before = rss_mib(procs)
    out: dict = {"n": n}
    fleet = Fleet(url, n, args.report_interval)
    start = time.perf_counter()
    await fleet.register()
    out["register_s"] = time.perf_counter() - start
    start = time.perf_counter()
    await fleet.connect(args.ramp)
    await asyncio.wait_for(fleet.synced(), args.timeout)
    out["connect_s"] = time.perf_counter() - start
    note(f"{n} agents registered and synced: {out}")
    beat = asyncio.create_task(fleet.heartbeat())
    try:
        fleet.heartbeats_on = False
        await asyncio.sleep(3)
        out["idle"] = await measure_idle(db, procs, args.idle)
        note(f"idle: {out['idle']}")
        fleet.heartbeats_on = True
        out["beating"] = await measure_idle(db, procs, args.idle)
        note(f"heartbeats: {out['beating']}")
        out["rss_per_agent_kib"] = (out["idle"]["rss"] - rss_before) * 1024 / n
        out["rss_before"] = rss_before
        out["bind"], out["bind_missed"] = await bind_latencies(url, fleet, ports, 10)
        note(f"binds: {out['bind']} missed {out['bind_missed']}")
        calm: list[float] = []
        stop = asyncio.Event()
        listing = asyncio.create_task(lister(url, calm, stop))
        await asyncio.sleep(args.idle / 2)
        stop.set()
        await listing
        # The storm: every agent at once, as after a network partition heals or a
        # rollout restarts them all.
        await fleet.drop()
        storm: list[float] = []
        stop = asyncio.Event()
        listing = asyncio.create_task(lister(url, storm, stop))
        start = time.perf_counter()
        await fleet.connect()
        await asyncio.gather(*[a.report(True) for a in fleet.agents], fleet.synced())
        out["storm_s"] = time.perf_counter() - start
        stop.set()
        await listing
        out["calm"], out["storm"] = calm, storm
        out["pool_errors"] = fleet.pool.errors
    finally:
        beat.cancel()
        await fleet.drop()
        await db.close()
    return out


def lines(r: dict) -> list[str]:
    idle, beat = r["idle"], r["beating"]
    bind = r["bind"]
    return [
        f"agents={r['n']}: register {r['register_s']:.1f}s, all synced {r['connect_s']:.1f}s after connecting",
        f"agents={r['n']} idle (watches only): db xact/s={idle['xact_s']:.1f} rows read/s={idle['rows_s']:.0f} "
        f"server CPU={100 * idle['cpu']:.1f}% of a core "
        f"({1e6 * idle['cpu'] / r['n']:.1f} us/s per agent) RSS={idle['rss']:.0f} MiB "
        f"(+{r['rss_per_agent_kib']:.1f} KiB per agent over {r['rss_before']:.0f} MiB)",
        f"agents={r['n']} idle + heartbeats every {ARGS.report_interval:g}s: db xact/s={beat['xact_s']:.1f} "
        f"rows read/s={beat['rows_s']:.0f} server CPU={100 * beat['cpu']:.1f}% of a core",
        f"agents={r['n']} bind->agent sees it: n={len(bind)} missed={r['bind_missed']} "
        + (f"median={harness.percentile(bind, 50):.0f}ms p99={harness.percentile(bind, 99):.0f}ms" if bind else ""),
        f"agents={r['n']} restart storm: all {r['n']} resynced in {r['storm_s']:.1f}s; GET /v2.0/ports p99 "
        f"{harness.percentile(r['storm'], 99):.0f}ms during (n={len(r['storm'])}) vs "
        f"{harness.percentile(r['calm'], 99):.0f}ms before (n={len(r['calm'])}); agent request failures={r['pool_errors']}",
    ]


ARGS: argparse.Namespace


def main() -> None:
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--report-interval", type=float, default=30.0)
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of each idle measurement")
    parser.add_argument("--binds", type=int, default=30)
    parser.add_argument("--ramp", type=float, default=100.0, help="agents started per second (0: all at once)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds allowed for all agents to sync")
    ARGS = args = parser.parse_args()
    # Two held requests per host on both ends of the loopback: raise the limit
    # (the server inherits it).
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # An agent is alive while its last report is younger than agent_down_time
    # (Quark's default 20 s, for its agents' 5 s reports): a fleet reporting
    # every 30 s (Neutron's default) runs with Neutron's 75 s.
    server_env = {"QUARK_AGENT_DOWN_TIME": str(max(20, int(2.5 * args.report_interval)))}
    results = []
    for n in args.agents:
        info: dict = {}
        with (
            harness.fresh_database("postgresql") as db_url,
            harness.running_server(db_url, args.workers, env=server_env, info=info) as url,
        ):
            results.append(asyncio.run(case(url, db_url, info["pid"], n, args)))
        print(f"server log (agents={n}): tracebacks={harness.server_errors_in(info['log'])}", flush=True)
    print(
        f"server: postgresql, quark serve --workers {args.workers}, {server_env}; open files limit {hard}; "
        f"agents report every {args.report_interval:g}s, long-poll wait {WAIT}s"
    )
    print(f"machine: {harness.machine()}")
    for r in results:
        print("\n".join(lines(r)))


if __name__ == "__main__":
    main()
