"""The dashboard search box's reading of what was typed (quark.api.dashboard.search.classify)."""

from __future__ import annotations

from quark.api.dashboard.search import classify


def test_an_address_is_searched_in_its_canonical_spelling():
    assert classify("2001:DB8:0::5") == ("ip", "2001:db8::5")
    assert classify("10.1.2.3") == ("ip", "10.1.2.3")


def test_what_is_no_address_is_a_mac_a_uuid_or_a_device_id():
    assert classify("fa:16:3e:00:00:01")[0] == "mac"
    assert classify("10.1.2.300") == ("device", "10.1.2.300")
    assert classify("0b9c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3")[0] == "id"
