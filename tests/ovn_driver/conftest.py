"""The OVN tests' fixture: a private NB, SB and northd per test (tests/ovn.py)."""

from tests.ovn import ovn  # noqa: F401
