"""The OVN tests' fixtures (tests/ovn.py): a private NB, SB and northd per test, and
a userspace-datapath hypervisor bound to it."""

from tests.ovn import chassis, ovn  # noqa: F401
