"""Body checks against the attribute maps: Neutron's messages, in Neutron's order."""

from __future__ import annotations

import pytest

from quark import errors
from quark.api import body
from quark.api.definitions.core import NETWORK, PORT, SUBNET
from quark.context import Context

ADMIN = Context.admin()
MEMBER = Context(project_id="p1", roles=frozenset({"member"}))


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        pytest.param({}, "Resource body required", id="empty"),
        pytest.param({"net": {}}, "Unable to find 'network' in request body", id="missing-wrapper"),
        pytest.param({"network": {"bogus": 1, "zzz": 2}}, "Unrecognized attribute(s) 'bogus, zzz'", id="unknown"),
        pytest.param({"network": {"status": "DOWN"}}, "Attribute 'status' not allowed in POST", id="read-only"),
        pytest.param(
            {"network": {"name": 5}}, "Invalid input for name. Reason: '5' is not a valid string.", id="invalid"
        ),
        pytest.param({"network": {"name": "x" * 256}}, None, id="too-long"),
        pytest.param({"networks": []}, "Resources required", id="empty-bulk"),
        pytest.param({"network": "x"}, "Unable to find 'network' in request body", id="not-an-object"),
    ],
)
def test_create_body_errors(payload, message):
    with pytest.raises(errors.HTTPBadRequest) as caught:
        body.parse_create(NETWORK, payload, ADMIN)
    if message is not None:
        assert caught.value.msg == message
    else:
        assert "exceeds maximum length of 255" in caught.value.msg


def test_required_attribute_missing():
    with pytest.raises(errors.HTTPBadRequest) as caught:
        body.parse_create(SUBNET, {"subnet": {"network_id": "n", "cidr": "10.0.0.0/24"}}, ADMIN)
    assert caught.value.msg == "Failed to parse request. Required attribute 'ip_version' not specified"


def test_defaults_are_filled_and_values_converted():
    items, bulk = body.parse_create(NETWORK, {"network": {"admin_state_up": "false"}}, ADMIN)
    assert not bulk
    assert items[0]["admin_state_up"] is False
    assert items[0]["name"] == "" and items[0]["shared"] is False
    assert "mtu" not in items[0]  # computed by the service, no static default


def test_bulk_keeps_request_order():
    items, bulk = body.parse_create(NETWORK, {"networks": [{"name": "a"}, {"name": "b"}]}, ADMIN)
    assert bulk and [i["name"] for i in items] == ["a", "b"]


def test_update_rejects_create_only_attribute():
    with pytest.raises(errors.HTTPBadRequest) as caught:
        body.parse_update(PORT, {"port": {"network_id": "x"}}, ADMIN)
    assert caught.value.msg == "Cannot update read-only attribute network_id"


def test_update_body_cannot_be_bulk():
    with pytest.raises(errors.HTTPBadRequest):
        body.parse_update(PORT, {"ports": [{"name": "x"}]}, ADMIN)


def test_port_accepts_tags_on_create_but_network_does_not():
    items, _ = body.parse_create(PORT, {"port": {"network_id": "n", "tags": ["a", "b"]}}, ADMIN)
    assert items[0]["tags"] == ["a", "b"]
    with pytest.raises(errors.HTTPBadRequest) as caught:
        body.parse_create(NETWORK, {"network": {"tags": ["a"]}}, ADMIN)
    assert caught.value.msg == "Attribute 'tags' not allowed in POST"


@pytest.mark.parametrize(
    ("value", "ok"),
    [("fa:16:3e:00:00:01", True), ("FA:16:3E:00:00:01", True), ("01:00:5e:00:00:01", False), ("zz", False)],
)
def test_mac_address_validation(value, ok):
    payload = {"port": {"network_id": "n", "mac_address": value}}
    if ok:
        items, _ = body.parse_create(PORT, payload, ADMIN)
        assert items[0]["mac_address"] == value.lower()
    else:
        with pytest.raises(errors.HTTPBadRequest) as caught:
            body.parse_create(PORT, payload, ADMIN)
        assert caught.value.msg.startswith("Invalid input for mac_address. Reason:")


def test_fixed_ips_entries_validated():
    with pytest.raises(errors.HTTPBadRequest) as caught:
        body.parse_create(PORT, {"port": {"network_id": "n", "fixed_ips": [{"ip_address": "300.1.1.1"}]}}, ADMIN)
    assert "Invalid input for fixed_ips" in caught.value.msg
    with pytest.raises(errors.HTTPBadRequest):
        body.parse_create(PORT, {"port": {"network_id": "n", "fixed_ips": [{"subnet": "x"}]}}, ADMIN)


def test_fault_map_covers_every_error_class():
    """Every domain error maps to a 4xx/5xx through its base class (one fault map)."""
    import inspect

    from quark.api.faults import status_for

    for _, klass in inspect.getmembers(errors, inspect.isclass):
        if issubclass(klass, errors.QuarkError) and klass not in (errors.QuarkError, errors.RetryRequest):
            status = status_for(klass.__new__(klass))
            assert 400 <= status < 600 and status != 500, klass
