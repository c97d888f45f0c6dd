"""Query strings → ListQuery (contract §2)."""

from __future__ import annotations

import pytest

from quark import errors
from quark.api.definitions.core import NETWORK, PORT, SUBNET
from quark.api.query import parse_list_query


def test_repeated_keys_are_ored_and_values_converted():
    q = parse_list_query(NETWORK, [("name", "a"), ("name", "b"), ("shared", "True"), ("admin_state_up", "0")])
    assert q.filters == {"name": ["a", "b"], "shared": [True], "admin_state_up": [False]}


def test_attributes_without_a_filter_are_accepted_and_ignored():
    q = parse_list_query(NETWORK, [("port_security_enabled", "true"), ("fields", "id")])
    assert q.filters == {}


def test_unknown_filters_are_refused_as_neutron_filter_validation():
    with pytest.raises(errors.HTTPBadRequest) as refused:
        parse_list_query(NETWORK, [("name", "a"), ("bogus", "1"), ("other", "2")])
    assert refused.value.msg == "['bogus', 'other'] is invalid attribute for filtering"


@pytest.mark.parametrize(
    "key", ["fields", "sort_key", "limit", "marker", "page_reverse", "tags", "tags-any", "not-tags", "not-tags-any"]
)
def test_paging_sorting_and_tag_parameters_are_no_unknown_filters(key):
    value = {"sort_key": "id", "limit": "1", "page_reverse": "False"}.get(key, "x")
    parse_list_query(NETWORK, [(key, value)])


def test_subnets_filter_on_shared():
    assert parse_list_query(SUBNET, [("shared", "true")]).filters == {"shared": [True]}


def test_empty_string_filter_matches_empty_value():
    assert parse_list_query(PORT, [("device_id", "")]).filters == {"device_id": [""]}


def test_mac_and_cidr_filters_are_normalised():
    assert parse_list_query(PORT, [("mac_address", "FA:16:3E:00:00:01")]).filters["mac_address"] == [
        "fa:16:3e:00:00:01"
    ]
    assert parse_list_query(SUBNET, [("cidr", "10.0.0.5/24")]).filters["cidr"] == ["10.0.0.0/24"]


def test_bad_bool_filter_is_400():
    with pytest.raises(errors.HTTPBadRequest):
        parse_list_query(NETWORK, [("shared", "maybe")])


def test_fixed_ips_filters():
    q = parse_list_query(
        PORT,
        [("fixed_ips", "ip_address=10.0.0.5"), ("fixed_ips", "subnet_id=S"), ("fixed_ips", "ip_address_substr=10.0")],
    )
    assert q.extra["fixed_ips"] == {"ip_address": ["10.0.0.5"], "subnet_id": ["S"], "ip_address_substr": ["10.0"]}
    with pytest.raises(errors.HTTPBadRequest):
        parse_list_query(PORT, [("fixed_ips", "mac=1")])


def test_tag_filters_split_commas_and_append():
    q = parse_list_query(NETWORK, [("tags", "a,b"), ("tags", "c"), ("not-tags-any", "x")])
    assert q.tags == ["a", "b", "c"] and q.not_tags_any == ["x"]


def test_sorting_pairs_keys_and_dirs():
    q = parse_list_query(NETWORK, [("sort_key", "name"), ("sort_dir", "desc"), ("sort_key", "id"), ("sort_dir", "asc")])
    assert q.sorts == [("name", "desc"), ("id", "asc")]


@pytest.mark.parametrize(
    "params",
    [
        pytest.param([("sort_key", "name"), ("sort_key", "id"), ("sort_dir", "asc")], id="count-mismatch"),
        pytest.param([("sort_key", "name"), ("sort_dir", "up")], id="bad-direction"),
        pytest.param([("sort_key", "subnets")], id="not-sortable"),
        pytest.param([("limit", "-1")], id="negative-limit"),
        pytest.param([("limit", "x")], id="non-int-limit"),
    ],
)
def test_bad_sort_and_limit_are_400(params):
    with pytest.raises(errors.HTTPBadRequest):
        parse_list_query(NETWORK, params)


def test_pagination_parameters():
    q = parse_list_query(NETWORK, [("limit", "5"), ("marker", "m"), ("page_reverse", "True"), ("fields", "id")])
    assert (q.limit, q.marker, q.page_reverse, q.fields) == (5, "m", True, ["id"])


def test_pagination_max_limit_caps():
    assert parse_list_query(NETWORK, [("limit", "500")], max_limit=100).limit == 100
    assert parse_list_query(NETWORK, [], max_limit=100).limit == 100


def test_integer_filters_beyond_bigint_are_a_400():
    with pytest.raises(errors.BadRequest):
        parse_list_query(PORT, [("revision_number", str(2**70))])


def test_huge_limits_are_clamped():
    assert parse_list_query(PORT, [("limit", str(2**80))]).limit == 2**31 - 1
