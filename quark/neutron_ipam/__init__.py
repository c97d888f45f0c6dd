"""Neutron's ``quark`` IPAM driver: a stock Neutron takes its subnets' and
ports' addresses from Quark over HTTP (docs/neutron_ipam_driver.md).

The driver itself is ``quark.neutron_ipam.driver`` (entry point
``neutron.ipam_drivers: quark``); it imports Neutron, so it is imported only
inside Neutron's environment. Nothing of Quark's server imports this package.
"""
