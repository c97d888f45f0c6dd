"""Imports of other deployments into Quark through its services (``quark import neutron``)."""
