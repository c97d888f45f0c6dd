"""Settings: defaults < config file (TOML) < environment (QUARK_*) < CLI flags.

The config file is the first of ``--config``, ``$QUARK_CONFIG``,
``./quark.toml`` and ``/etc/quark/quark.toml`` that exists. Its keys are the
field names below, at top level or under ``[quark]``.

Worker processes started by ``quark serve --workers N`` re-read the settings
from the environment, so the CLI exports its final values as QUARK_* before
forking (see ``Settings.to_env``).

Two tables of the config file are passed through as they are, not as Quark
settings: ``[keystone_authtoken]`` (keystonemiddleware's own option names, as
in neutron.conf; used when ``auth_strategy = "keystone"``) and ``[nova]``
(keystoneauth1 loading options plus ``region_name`` / ``endpoint_type``, as
Neutron's ``[nova]``: the identity the Nova events are sent with). They travel
to the workers as JSON (``QUARK_KEYSTONE_AUTHTOKEN``, ``QUARK_NOVA``).

A ``[rate_limits]`` table is a shorthand: its keys are the ``rate_limit_*``
settings without the prefix (``redis_url``, ``reads``, ``overrides``...).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

DEFAULT_CONFIG_FILES = ("quark.toml", "/etc/quark/quark.toml")
AUTH_STRATEGIES = ("noauth", "keystone")
# Tables of the config file that are option sets of other libraries, kept whole.
PASSTHROUGH_TABLES = ("keystone_authtoken", "nova")
# The table whose keys are the rate_limit_* settings without their prefix.
RATE_LIMITS_TABLE = "rate_limits"
RATE_LIMIT_CLASSES = ("reads", "writes", "allocations")


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 9696
    workers: int = 1
    # Empty means the embedded default: SQLite under data_dir.
    database_url: str = ""
    data_dir: str = "./var"
    db_pool_size: int = 10
    # Attempts of one transaction that fails on a deadlock, a serialization or
    # a Galera certification failure (re-run with a jittered pause, doubled
    # per attempt up to 0.5 s) before the request is answered 503. Raise it
    # (e.g. 20) when several Galera nodes take writes (README, "MariaDB Galera").
    db_max_attempts: int = 8
    db_max_overflow: int = 20
    # A PostgreSQL streaming replica (hot standby) of database_url for the reads
    # that tolerate lag (lists, agents' watches, IP availability, dashboard counts);
    # never a read after the caller's own write (quark.db.replica; README
    # "PostgreSQL with a read replica"). Empty: every read on database_url.
    database_replica_url: str = ""
    # Seconds the replica may be behind the primary and still serve reads (else
    # they go to the primary until it catches up).
    replica_max_lag: float = 5.0
    # Seconds between two checks that Quark's tables have fresh planner
    # statistics on PostgreSQL (ANALYZE when they changed by 10% since the
    # last one; quark.db.statistics); 0 = never (left to autovacuum).
    db_analyze_interval: float = 5.0
    # "noauth" (headers X-Project-Id / X-Roles; none = admin) or "keystone"
    # (keystonemiddleware's auth_token, configured by keystone_authtoken).
    auth_strategy: str = "noauth"
    # noauth trusts every caller: `quark serve` refuses a non-loopback host
    # with it unless this is true.
    noauth_allow_remote: bool = False
    # The [keystone_authtoken] table: keystonemiddleware's options, unchanged.
    keystone_authtoken: dict[str, Any] = field(default_factory=dict, hash=False)
    # The [nova] table: keystoneauth1 options of Nova's service user (+ region_name, endpoint_type).
    nova: dict[str, Any] = field(default_factory=dict, hash=False)
    # oslo.policy file of overrides (YAML or JSON, Neutron's rule names); re-read
    # when it changes; empty: only the defaults (docs/policy.md).
    policy_file: str = "/etc/quark/policy.yaml"
    # Seconds before a released IP or MAC is handed out automatically again.
    ipam_reuse_after: int = 7200
    # Created by the first migration-aware start when no MAC range exists.
    default_mac_range: str = "fa:16:3e:00:00:00/24"
    # What ports created without fixed_ips get: NEUTRON (one IPv4 + one IPv6
    # per the Neutron contract), ANY, BOTH or BOTH_REQUIRED (Quark's).
    default_ipam_strategy: str = "NEUTRON"
    # Network type given to project networks created without provider attributes.
    tenant_network_type: str = "vxlan"
    # MTU of the physical networks (Neutron's global_physnet_mtu): a network's
    # MTU is at most this less its overlay's overhead (VXLAN 50, Geneve 58, GRE 42).
    global_physnet_mtu: int = 1500
    # Segment allocation ranges created on a database that has none, so project
    # networks get segment ids out of the box: comma-separated
    # "vxlan:MIN:MAX" / "vlan:PHYSNET:MIN:MAX" (empty: none). docs/segments.md.
    segment_ranges: str = "vxlan:1:65535"
    # Seconds since its last report after which an agent is no longer alive.
    agent_down_time: int = 20
    # Seconds between each server process's check for routers whose L3 agent
    # is dead (they move to a live one; docs/l3.md); 0 = only at agents' reports.
    l3_reschedule_interval: float = 10.0
    # Neutron's l3-ha and dvr settings (docs/routers.md): the ``ha`` and
    # ``distributed`` of routers created without them; the L3 hosts an HA
    # router is scheduled on (one active, the others standby; 0: every live
    # one). l3_ha_net_cidr is accepted for Neutron's configurations: Quark's
    # HA needs no HA network (the database, not VRRP, picks the active host).
    l3_ha: bool = False
    router_distributed: bool = False
    max_l3_agents_per_router: int = 3
    l3_ha_net_cidr: str = "169.254.192.0/18"
    # Nova's os-server-external-events URL (empty: no events are sent), e.g.
    # http://127.0.0.1:8774/v2.1/os-server-external-events; seconds of the
    # first retry delay (doubled per attempt up to the max) and of the POST timeout.
    nova_events_url: str = ""
    nova_events_retry_delay: float = 1.0
    nova_events_retry_max_delay: float = 60.0
    nova_events_timeout: float = 10.0
    # Backend drivers (docs/drivers.md): the driver of networks created without
    # network_plugin (an entry point of group quark.drivers: agent, unmanaged,
    # fault, or a vendor's), and each driver's options by name, e.g.
    # {"fault": {"failure_rate": 0.3}}.
    backend_driver: str = "agent"
    backend_driver_options: dict[str, Any] = field(default_factory=dict, hash=False)
    # The outbox worker (`quark worker`, docs/jobs.md): seconds a claimed job is
    # its worker's (then another worker takes it over: a worker killed mid-call
    # loses its jobs to the others after this); seconds a driver call may take
    # (then it is retried); the first retry delay, doubled per attempt up to the
    # max, each drawn with +-50% jitter; attempts before a job fails for good;
    # jobs one worker claims at once.
    worker_lease: float = 60.0
    worker_call_timeout: float = 30.0
    worker_retry_delay: float = 0.5
    worker_retry_max_delay: float = 60.0
    worker_max_attempts: int = 10
    worker_batch: int = 16
    # The periodic backend sync in `quark worker` (docs/drivers.md#sync): seconds
    # between two syncs of each driver in use, repairing drift made from outside
    # (0: none); one worker of all runs each. Resources read per page by a sync
    # (the periodic one and `quark backend sync`).
    backend_sync_interval: float = 300.0
    backend_sync_page: int = 1000
    # Seconds between a worker's passes that write the port status drivers report
    # (``ovn``: a port is ACTIVE once a chassis claimed it); 0 turns them off.
    worker_status_interval: float = 5.0
    # Bytes; larger request bodies get 413 (bulk creates of a few thousand ports fit).
    max_request_body_size: int = 4 * 1024 * 1024
    # Items a bulk create may carry (0 = no cap); a larger one is refused with
    # 400 before any item is read.
    max_bulk_size: int = 10000
    # 0 = no cap on ?limit= (Neutron's default).
    pagination_max_limit: int = 0
    max_dns_nameservers: int = 5
    max_subnet_host_routes: int = 20
    max_allowed_address_pairs: int = 10
    # Quark /v2.0/ip_addresses limits (-1 = unlimited), checked when an
    # address is added to ports through that API:
    # addresses a port may hold in all (its fixed IPs included; Quark's
    # total_ips_allowed_on_port),
    ipaddr_max_per_port: int = 5
    # shared addresses a project may have on one network (Quark's
    # shared_ips_allowed_on_network),
    ipaddr_max_shared_per_network: int = -1
    # ports one shared address may be held by.
    ipaddr_max_ports_per_shared: int = 10
    # Single-port creates that reach one process while another create of the
    # same caller is in flight are run together, up to this many ports per
    # transaction (group commit; quark.services.common.batching). 0 turns it off.
    port_create_batch: int = 64
    # Idempotency-Key (docs/idempotency.md): seconds a key and its answer are
    # kept; seconds a claim of a running request is trusted before a retry may
    # take it over (a worker that died holds it no longer than this); seconds
    # between purges of expired keys by each server process (0: only lazily).
    idempotency_key_retention: int = 86400
    idempotency_lease: int = 30
    idempotency_purge_interval: float = 300.0
    # Seconds between folds of the hosts' change log (host_changes) into their
    # generation bases, by each server process (quark.services.dataplane.hoststate;
    # 0: never, the log then only grows). Fewer rows: cheaper long-poll reads.
    host_changes_fold_interval: float = 5.0
    # Neutron's default quotas: how many of each resource a project may have
    # unless an admin set its own limit (PUT /v2.0/quotas/{project_id});
    # -1 = unlimited. docs/quotas.md.
    quota_network: int = 100
    quota_subnet: int = 100
    quota_port: int = 500
    quota_security_group: int = 10
    quota_security_group_rule: int = 100
    quota_floatingip: int = 50
    quota_router: int = 10
    quota_subnetpool: int = -1
    quota_rbac_policy: int = 10
    quota_address_group: int = -1
    # Per-project rate limits at the API edge (docs/rate_limits.md), shared by every
    # worker and host through Redis: off unless rate_limit_redis_url is set (e.g.
    # redis://127.0.0.1:6379/0). Also settable as a [rate_limits] table (redis_url,
    # reads, ...). Requests per rate_limit_period seconds per project and class (0:
    # that class unlimited); the defaults leave Nova's normal pattern untouched.
    rate_limit_enabled: bool = True
    rate_limit_redis_url: str = ""
    rate_limit_period: float = 60.0
    rate_limit_reads: int = 6000
    rate_limit_writes: int = 1200
    rate_limit_allocations: int = 600
    # Callers holding one of these roles (comma-separated; in their token or a
    # service token sent beside it) are never limited.
    rate_limit_exempt_roles: str = "admin,service"
    # Per-project limits: {"<project id>": {"reads": N, "writes": N, "allocations": N}};
    # a class left out keeps the default.
    rate_limit_overrides: dict[str, Any] = field(default_factory=dict, hash=False)
    # Seconds a rate-limit check may wait for Redis before the request is served unlimited.
    rate_limit_redis_timeout: float = 0.1
    # At most this many requests of a (project, class) budget a worker takes from
    # Redis at once and spends locally, without a round trip; at most 1% of the
    # class's limit (below 2: each request asks Redis). 0 turns leasing off.
    rate_limit_lease: int = 50
    log_level: str = "info"
    # "text" (one line: time, pid, level, logger, [request id], message) or
    # "json" (one JSON object a line, the access log's fields as keys).
    log_format: str = "text"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{Path(self.data_dir).resolve() / 'quark.db'}"

    def to_env(self) -> dict[str, str]:
        return {f"QUARK_{f.name.upper()}": _env_value(getattr(self, f.name)) for f in fields(self)}

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def _env_value(value: Any) -> str:
    if isinstance(value, dict):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _coerce(field_type: Any, value: Any) -> Any:
    kind = field_type if isinstance(field_type, str) else getattr(field_type, "__name__", "")
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    if kind == "bool":
        return _coerce_bool(value)
    if kind.startswith("dict"):
        table = json.loads(value) if isinstance(value, str) else value
        if not isinstance(table, dict):
            raise ValueError(f"expected a table, got {value!r}")
        return dict(table)
    return str(value)


def _coerce_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _find_config_file(explicit: str | None) -> Path | None:
    for candidate in (explicit, os.environ.get("QUARK_CONFIG"), *DEFAULT_CONFIG_FILES):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    if explicit:
        raise FileNotFoundError(f"config file {explicit} does not exist")
    return None


def _file_values(path: Path, known: dict[str, Any]) -> dict[str, Any]:
    """The settings a TOML file sets (top level or [quark], and the pass-through tables)."""
    document = tomllib.loads(path.read_text())
    data = dict(document.get("quark", document))
    for table in (*PASSTHROUGH_TABLES, RATE_LIMITS_TABLE):  # at top level beside [quark], or inside it
        if isinstance(document.get(table), dict):
            data[table] = document[table]
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key == "agent" and isinstance(value, dict):
            continue  # the host agents' table (quark.agent.config)
        if key == RATE_LIMITS_TABLE and isinstance(value, dict):
            for name, item in value.items():  # [rate_limits] redis_url = ... is rate_limit_redis_url
                values.update(_file_setting(path, known, f"rate_limit_{name}", item))
            continue
        values.update(_file_setting(path, known, key, value))
    return values


def _file_setting(path: Path, known: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    if key not in known:
        raise ValueError(f"{path}: unknown setting {key!r}")
    return {key: _coerce(known[key], value)}


def _check(settings: Settings) -> Settings:
    if settings.log_format not in ("text", "json"):
        raise ValueError(f"log_format must be text or json, not {settings.log_format!r}")
    if settings.auth_strategy not in AUTH_STRATEGIES:
        raise ValueError(f"auth_strategy must be one of {', '.join(AUTH_STRATEGIES)}, not {settings.auth_strategy!r}")
    if settings.auth_strategy == "keystone" and not settings.keystone_authtoken:
        raise ValueError('auth_strategy = "keystone" needs a [keystone_authtoken] table in the config file')
    _check_rate_limits(settings)
    if settings.worker_lease <= settings.worker_call_timeout:
        # A job whose call outlives its lease could be taken by a second worker while the first still calls.
        raise ValueError(
            f"worker_lease ({settings.worker_lease}) must be longer than worker_call_timeout "
            f"({settings.worker_call_timeout})"
        )
    if settings.replica_max_lag <= 0:
        raise ValueError(f"replica_max_lag must be positive, not {settings.replica_max_lag}")
    if settings.backend_sync_interval < 0 or settings.backend_sync_page < 1:
        raise ValueError("backend_sync_interval must be >= 0 and backend_sync_page >= 1")
    return settings


def _check_rate_limits(settings: Settings) -> None:
    if settings.rate_limit_period <= 0:
        raise ValueError(f"rate_limit_period must be positive, not {settings.rate_limit_period}")
    if settings.rate_limit_redis_timeout <= 0:
        raise ValueError(f"rate_limit_redis_timeout must be positive, not {settings.rate_limit_redis_timeout}")
    if settings.rate_limit_lease < 0:
        raise ValueError(f"rate_limit_lease must be 0 or more, not {settings.rate_limit_lease}")
    for project, counts in settings.rate_limit_overrides.items():
        unknown = set(counts) - set(RATE_LIMIT_CLASSES) if isinstance(counts, dict) else {"(not a table)"}
        if unknown:
            raise ValueError(f"rate_limit_overrides[{project!r}]: unknown class(es) {sorted(unknown)}")
        for kind, count in counts.items():
            if not isinstance(count, int) or isinstance(count, bool):
                raise ValueError(f"rate_limit_overrides[{project!r}][{kind!r}] must be an integer, not {count!r}")


def load_settings(config_file: str | None = None, **overrides: Any) -> Settings:
    """Build the settings from every source; ``overrides`` (CLI flags) win."""
    known = {f.name: f.type for f in fields(Settings)}
    path = _find_config_file(config_file)
    values = _file_values(path, known) if path is not None else {}
    for name, ftype in known.items():
        env = os.environ.get(f"QUARK_{name.upper()}")
        if env is not None and env != "":
            values[name] = _coerce(ftype, env)
    for name, value in overrides.items():
        if value is not None:
            values[name] = value
    return _check(Settings(**values))
