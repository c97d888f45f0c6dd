"""The host-side commands of ``quark``: agent (netlink, L3, security groups), dhcp (dnsmasq), metadata-agent."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import typer

from quark.cli.options import ConfigOpt

HostOpt = Annotated[str | None, typer.Option("--host", help="This host's name (binding:host_id); default: hostname.")]
NetnsOpt = Annotated[str | None, typer.Option("--netns", help="Network namespace the host's devices live in.")]
ApiUrlOpt = Annotated[str | None, typer.Option("--api-url", help="Quark API (default http://127.0.0.1:9696).")]
ReportOpt = Annotated[float | None, typer.Option("--report-interval", help="Seconds between heartbeats (5).")]
LogLevelOpt = Annotated[str | None, typer.Option("--log-level", help="debug, info, warning, error.")]


def _agent_settings(config: str | None, **overrides):
    from quark.agent.config import load_agent_settings

    try:
        return load_agent_settings(config, **overrides)
    except (OSError, ValueError) as exc:
        typer.echo(f"quark: {exc}", err=True)
        raise typer.Exit(2) from None


def _agent_auth(s):
    """The service user's token source from [agent] cloud / [agent.auth]; None without Keystone."""
    from quark.agent.auth import agent_auth

    try:
        return agent_auth(s.cloud, s.auth)
    except (OSError, ValueError) as exc:
        typer.echo(f"quark: agent credentials: {exc}", err=True)
        raise typer.Exit(2) from None


def _run_agent(s, serve: Callable[[Any], Awaitable[None]]) -> None:
    """Run ``serve(client)``, ``client`` an API client of the agent settings ``s``
    (its URL, token or service user), until SIGTERM or SIGINT."""
    from quark.agent.client import AgentApiClient

    logging.basicConfig(level=s.log_level.upper(), format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
    import faulthandler

    faulthandler.register(signal.SIGUSR1)  # kill -USR1 <pid> dumps every thread's stack
    for noisy in ("pyroute2", "httpx", "httpcore", "asyncio"):  # they log every message / request
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))

    main_pid = os.getpid()

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None  # asyncio.run runs main() as a task
        loop = asyncio.get_running_loop()

        # Not loop.add_signal_handler: its wakeup fd is inherited by the
        # short-lived children pyroute2 forks to open sockets in other
        # namespaces, and their SIGTERM would then stop this process.
        def on_signal(signum, frame) -> None:
            if os.getpid() != main_pid:
                os._exit(0)
            loop.call_soon_threadsafe(task.cancel)

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, on_signal)
        try:
            async with AgentApiClient(s.api_url, token=s.api_token, auth=_agent_auth(s)) as client:
                await serve(client)
        except asyncio.CancelledError:
            pass

    asyncio.run(main())


def agent(
    config: ConfigOpt = None,
    host: HostOpt = None,
    netns: NetnsOpt = None,
    bridge_mappings: Annotated[
        str | None,
        typer.Option("--bridge-mappings", help="physnet:interface[,physnet:interface] for flat/vlan networks."),
    ] = None,
    tunnel_ip: Annotated[str | None, typer.Option("--tunnel-ip", help="Local VXLAN endpoint address.")] = None,
    l3: Annotated[
        bool | None, typer.Option("--l3/--no-l3", help="Also realise the routers scheduled to this host.")
    ] = None,
    namespace_prefix: Annotated[
        str | None, typer.Option("--namespace-prefix", help="Prefix of the router namespaces (qr-<router id>).")
    ] = None,
    api_url: ApiUrlOpt = None,
    report_interval: ReportOpt = None,
    log_level: LogLevelOpt = None,
) -> None:
    """The host agent: realise the ports bound to this host (bridges, veth, VXLAN) and report their state;
    with --l3 also the routers scheduled to it (namespaces, NAT; docs/l3.md)."""
    from quark.agent.l2 import L2Agent, L2AgentConfig, parse_bridge_mappings

    s = _agent_settings(
        config,
        host=host,
        netns=netns,
        bridge_mappings=bridge_mappings,
        tunnel_ip=tunnel_ip,
        l3=l3,
        namespace_prefix=namespace_prefix,
        api_url=api_url,
        report_interval=report_interval,
        log_level=log_level,
    )
    try:
        mappings = parse_bridge_mappings(s.bridge_mappings)
    except ValueError as exc:
        typer.echo(f"quark: {exc}", err=True)
        raise typer.Exit(2) from None
    cfg = L2AgentConfig(
        host=s.effective_host,
        netns=s.netns or None,
        bridge_mappings=mappings,
        tunnel_ip=s.tunnel_ip or None,
        report_interval=s.report_interval,
    )

    async def serve(client) -> None:
        if not s.l3:
            await L2Agent(client, cfg).run()
            return
        from quark.agent.l3 import L3Agent, L3Config

        l3_cfg = L3Config(
            cfg.host,
            cfg.netns,
            s.namespace_prefix,
            report_interval=s.report_interval,
            enable_metadata_proxy=s.enable_metadata_proxy,
            metadata_proxy_socket=s.metadata_proxy_socket,
            state_dir=s.l3_state_dir,
        )
        await asyncio.gather(L2Agent(client, cfg).run(), L3Agent(client, l3_cfg).run())

    _run_agent(s, serve)


def dhcp(
    config: ConfigOpt = None,
    host: HostOpt = None,
    netns: NetnsOpt = None,
    namespace_prefix: Annotated[
        str | None,
        typer.Option("--namespace-prefix", help="Prefix of the per-network DHCP namespaces (qdhcp-<network id>)."),
    ] = None,
    state_dir: Annotated[
        str | None, typer.Option("--state-dir", help="Where dnsmasq files live (/var/lib/quark/dhcp).")
    ] = None,
    api_url: ApiUrlOpt = None,
    report_interval: ReportOpt = None,
    log_level: LogLevelOpt = None,
) -> None:
    """The DHCP service: dnsmasq in a namespace per network scheduled to this host."""
    from quark.agent.dhcp import DhcpConfig, DhcpService

    s = _agent_settings(
        config,
        host=host,
        netns=netns,
        namespace_prefix=namespace_prefix,
        state_dir=state_dir,
        api_url=api_url,
        report_interval=report_interval,
        log_level=log_level,
    )
    cfg = DhcpConfig(
        host=s.effective_host,
        netns=s.netns or None,
        namespace_prefix=s.namespace_prefix,
        state_dir=s.state_dir,
        dnsmasq=s.dnsmasq,
        report_interval=s.report_interval,
        enable_isolated_metadata=s.enable_isolated_metadata,
        force_metadata=s.force_metadata,
        metadata_proxy_socket=s.metadata_proxy_socket,
    )

    _run_agent(s, lambda client: DhcpService(client, cfg).run())


def metadata_agent(
    config: ConfigOpt = None, host: HostOpt = None, api_url: ApiUrlOpt = None, log_level: LogLevelOpt = None
) -> None:
    """The metadata agent: the metadata proxies' requests, signed, to Nova's metadata API (docs/metadata.md)."""
    from quark.agent.metadata.agent import MetadataAgent, MetadataAgentConfig

    s = _agent_settings(config, host=host, api_url=api_url, log_level=log_level)
    cfg = MetadataAgentConfig(
        host=s.effective_host,
        socket_path=s.metadata_proxy_socket,
        shared_secret=s.metadata_proxy_shared_secret,
        nova_metadata_url=s.nova_metadata_url,
        cache_ttl=s.metadata_cache_ttl,
        report_interval=s.report_interval,
    )

    _run_agent(s, lambda client: MetadataAgent(client, cfg).run())


def register(app: typer.Typer) -> None:
    """Add the host-side commands to the ``quark`` command."""
    app.command()(agent)
    app.command()(dhcp)
    app.command("metadata-agent")(metadata_agent)
