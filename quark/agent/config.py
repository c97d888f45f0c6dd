"""Settings of ``quark agent`` and ``quark dhcp``.

Same precedence as the server's settings: defaults < the ``[agent]`` table of
the config file (``--config``, ``$QUARK_CONFIG``, ``./quark.toml``,
``/etc/quark/quark.toml``) < environment ``QUARK_AGENT_<NAME>`` < flags.
"""

from __future__ import annotations

import os
import socket
import tomllib
from dataclasses import dataclass, field, fields
from typing import Any

from quark.config import _coerce, _find_config_file


@dataclass(frozen=True)
class AgentSettings:
    # Name of this host as Nova uses it in binding:host_id.
    host: str = ""
    # Network namespace the devices live in (empty: the agent's own).
    netns: str = ""
    api_url: str = "http://127.0.0.1:9696"
    # X-Auth-Token for the API (empty: none, i.e. noauth admin); a fixed token,
    # for tests: a service user (cloud or auth below) is what deployments use.
    api_token: str = ""
    # Keystone: a cloud of clouds.yaml ($OS_CLIENT_CONFIG_FILE, ~/.config/openstack/,
    # /etc/openstack/) whose user the agent authenticates as, e.g. "quark-service"...
    cloud: str = ""
    # ... or the [agent.auth] table: keystoneauth1 loading options (auth_type,
    # auth_url, username, password, project_name, user_domain_name, project_domain_name).
    auth: dict[str, Any] = field(default_factory=dict, hash=False)
    report_interval: float = 5.0
    # L2 agent: "physnet1:eth1,physnet2:eth2" and the local VXLAN endpoint.
    bridge_mappings: str = ""
    tunnel_ip: str = ""
    # L3: this host also realises routers (quark agent --l3; docs/l3.md).
    l3: bool = False
    # DHCP service and L3 part: prefix of their namespaces, where it keeps dnsmasq files, the binary.
    namespace_prefix: str = ""
    state_dir: str = "/var/lib/quark/dhcp"
    dnsmasq: str = "dnsmasq"
    # Metadata (docs/metadata.md): a proxy in the DHCP namespace of networks without a
    # router (Neutron's enable_isolated_metadata), or of every network (force_metadata).
    enable_isolated_metadata: bool = False
    force_metadata: bool = False
    # L3 part: a metadata proxy in each router namespace with interfaces (docs/l3.md),
    # its pid and log files under l3_state_dir/<router id>.
    enable_metadata_proxy: bool = False
    l3_state_dir: str = "/var/lib/quark/l3"
    # The metadata agent's unix socket, where the proxies send requests.
    metadata_proxy_socket: str = "/var/lib/quark/metadata_proxy"
    # What the metadata agent signs instance ids with (Nova's [neutron] metadata_proxy_shared_secret),
    # where Nova's metadata API is, and how long a port lookup is cached (seconds).
    metadata_proxy_shared_secret: str = field(default="", repr=False)
    nova_metadata_url: str = "http://127.0.0.1:8775"
    metadata_cache_ttl: float = 5.0
    log_level: str = "info"

    @property
    def effective_host(self) -> str:
        return self.host or socket.gethostname()


def _coerce_field(ftype: Any, value: Any) -> Any:
    kind = ftype if isinstance(ftype, str) else getattr(ftype, "__name__", "")
    if kind == "float":
        return float(value)
    return _coerce(ftype, value)


def load_agent_settings(config_file: str | None = None, **overrides: Any) -> AgentSettings:
    values: dict[str, Any] = {}
    known = {f.name: f.type for f in fields(AgentSettings)}
    path = _find_config_file(config_file)
    if path is not None:
        section = tomllib.loads(path.read_text()).get("agent", {})
        for key, value in section.items():
            if key not in known:
                raise ValueError(f"{path}: unknown agent setting {key!r}")
            values[key] = _coerce_field(known[key], value)
    for name, ftype in known.items():
        env = os.environ.get(f"QUARK_AGENT_{name.upper()}")
        if env:
            values[name] = _coerce_field(ftype, env)
    for name, value in overrides.items():
        if value is not None:
            values[name] = value
    return AgentSettings(**values)
