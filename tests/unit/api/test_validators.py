"""Attribute converters that mirror Neutron's converters."""

from __future__ import annotations

import pytest

from quark.api import validators as v


def test_integer_one_of_takes_digit_strings_as_neutron_convert_to_int():
    convert = v.integer_one_of(4, 6)
    assert convert(4) == 4 and convert("6") == 6
    for bad in (5, "5", "four", True, None, 4.5, "4.0"):
        with pytest.raises(ValueError, match=r"is not in \[4, 6\]"):
            convert(bad)
