"""The host side of the dataplane.

``quark agent`` (the L2 agent) realises the ports bound to its host as Linux
devices — a bridge per network, a veth pair per port, VXLAN devices or the
mapped physical interface as uplink — and reports each port's real state.
``quark dhcp`` runs dnsmasq in a namespace per network for the networks
scheduled to its host. Both learn what to do from the API alone
(``/v2.0/hosts/{host}/desired_state`` and ``.../dhcp_state``) and are
reconcilers: each pass compares the desired state with what exists and
applies the difference; a pass may run any number of times.

Modules, one job each:

- ``client``     the HTTP client of the agent API (report, long-poll, port status)
- ``model``      desired/actual state as plain values, parsed from the API
- ``plan``       pure ``converge(desired, actual)`` planning and port status
- ``netlink``    reading and changing links with pyroute2, inside a namespace
- ``l2``         the L2 agent loop (watch, reconcile, report)
- ``dnsmasq``    dnsmasq files and command line (pure) and process control
- ``dhcp``       the DHCP service loop (and its isolated-metadata proxies)
- ``metadata``   the metadata proxy and ``quark metadata-agent`` (docs/metadata.md)
"""
