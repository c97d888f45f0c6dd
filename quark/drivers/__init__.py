"""Backend drivers: what realises networks, subnets, ports, security groups and
routers outside Quark's database (docs/drivers.md). ``base`` is the interface,
``loading`` finds drivers by name (entry points, group ``quark.drivers``)."""
