"""The Idempotency-Key header's syntax (sf-string or bare token, 1-255
characters, no control character) and the request fingerprint."""

from __future__ import annotations

import pytest

from quark import errors
from quark.api.idempotency import fingerprint, parse_key


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ([], None),
        (['"8e03978e-40d5-43e8-bc93-6894a57f9324"'], "8e03978e-40d5-43e8-bc93-6894a57f9324"),
        (["8e03978e-40d5-43e8-bc93-6894a57f9324"], "8e03978e-40d5-43e8-bc93-6894a57f9324"),
        ([' "a b" '], "a b"),
        ([r'"say \"hi\" \\ bye"'], 'say "hi" \\ bye'),
        (["x" * 255], "x" * 255),
        (['"' + "y" * 255 + '"'], "y" * 255),
    ],
)
def test_valid_keys(values, key):
    assert parse_key(values) == key


@pytest.mark.parametrize(
    "values",
    [
        [""],
        ['""'],
        ["x" * 256],
        ['"' + "y" * 256 + '"'],
        ["a\x00b"],
        ["a\tb"],
        ['"unterminated'],
        ['"bad \\n escape"'],
        ['"inner " quote"'],
        ['"é"'],
        ["one", "two"],
    ],
)
def test_invalid_keys_are_400(values):
    with pytest.raises(errors.InvalidIdempotencyKey) as bad:
        parse_key(values)
    assert isinstance(bad.value, errors.BadRequest)


def test_the_fingerprint_is_the_parsed_request_not_its_spelling():
    body = {"port": {"network_id": "n", "name": "a", "fixed_ips": [{"subnet_id": "s"}]}}
    same = {"port": {"fixed_ips": [{"subnet_id": "s"}], "name": "a", "network_id": "n"}}
    assert fingerprint("POST", "/v2.0/ports", body) == fingerprint("POST", "/v2.0/ports", same)
    assert fingerprint("POST", "/v2.0/ports", body) != fingerprint("POST", "/v2.0/networks", body)
    assert fingerprint("POST", "/v2.0/ports", body) != fingerprint("POST", "/v2.0/ports", {"port": {"name": "a"}})
    huge = {"segment": 2**70}  # beyond orjson's integers: still a fingerprint
    assert fingerprint("POST", "/p", huge) != fingerprint("POST", "/p", {"segment": 2**70 + 1})
