"""Pure MAC address arithmetic: parsing, formatting, MAC address ranges.

A MAC is a 48-bit int inside Quark; strings only at the edges. The first octet
carries two flag bits::

    fa:16:3e:12:34:56
    first octet 0xfa = 1111 1010
                              ||
                              |+-- I/G bit (bit 40 of the int): 1 = multicast -> never a port MAC
                              +--- U/L bit: 1 = locally administered (EUI-64 flips it)

A MAC range is an inclusive (first, last) pair of ints. As a "cidr" it is a hex
prefix plus a mask, like an IP CIDR: "FA:16:3E:00:00:00/24" holds
fa:16:3e:00:00:00 .. fa:16:3e:ff:ff:ff (2**24 MACs).
"""

from __future__ import annotations

import re

from quark import errors

MAC_BITS = 48
MULTICAST_BIT = 1 << 40  # lowest bit of the first octet
_PAIR = "[0-9A-Fa-f]{2}"
_MAC = re.compile(rf"{_PAIR}(?P<sep>[:-]){_PAIR}(?:(?P=sep){_PAIR}){{4}}|[0-9A-Fa-f]{{12}}")
_PREFIX = re.compile(rf"{_PAIR}(?P<sep>[:-]){_PAIR}(?:(?P=sep){_PAIR}){{1,4}}|[0-9A-Fa-f]{{6,12}}")
_SEPARATORS = re.compile("[:-]")


def _digits(text: str) -> str:
    return _SEPARATORS.sub("", text)


def _syntax(text: object) -> int | None:
    """The value of a well-formed MAC string (any flags), or None."""
    if isinstance(text, str) and _MAC.fullmatch(text):
        return int(_digits(text), 16)
    return None


def parse_mac(text: str) -> int:
    """Parse a port MAC: "fa:16:3e:12:34:56", upper case, "fa-16-3e-12-34-56" or "fa163e123456".

    Separators must be uniform; nothing is stripped. Raises InvalidInput
    "'<text>' is not a valid MAC address" for anything else, a non-str, a multicast MAC
    (broadcast ff:ff:ff:ff:ff:ff included) and 00:00:00:00:00:00.
    """
    value = _syntax(text)
    if value is None or value == 0 or value & MULTICAST_BIT:
        raise errors.InvalidInput(error_message=f"'{text}' is not a valid MAC address")
    return value


def format_mac(value: int) -> str:
    """Lower-case colon form "fa:16:3e:12:34:56"; ValueError outside 0 .. 2**48-1."""
    if not 0 <= value < 1 << MAC_BITS:
        raise ValueError(f"{value!r} is not a 48-bit MAC value")
    return value.to_bytes(6, "big").hex(":")


def _bad(reason: str) -> errors.InvalidMacAddressRange:
    return errors.InvalidMacAddressRange(reason=reason)


def _cidr_bounds(cidr: object) -> tuple[int, int]:
    """(first, last) of a Quark MAC cidr: 6..12 hex digits (plain, or pairs joined by ':' or '-')
    and an optional "/mask" 0..48; without one the mask is 4 bits per digit given."""
    if not isinstance(cidr, str):
        raise _bad(f"'{cidr}' is not a MAC range cidr")
    prefix, slash, mask_text = cidr.partition("/")
    if not _PREFIX.fullmatch(prefix):
        raise _bad(f"'{cidr}' does not start with 6 to 12 hex digits")
    digits = _digits(prefix)
    if not slash:
        mask = 4 * len(digits)
    elif mask_text.isascii() and mask_text.isdigit() and len(mask_text) <= 2 and int(mask_text) <= MAC_BITS:
        mask = int(mask_text)
    else:
        raise _bad(f"'{cidr}' has a mask that is not 0 to 48")
    first = int(digits, 16) << 4 * (12 - len(digits))
    size = 1 << (MAC_BITS - mask)
    if first % size:
        raise _bad(f"'{cidr}' has bits set beyond the /{mask} mask")
    return first, first + size - 1


def _bound(text: object, name: str) -> int:
    value = _syntax(text)
    if value is None:
        raise _bad(f"{name} '{text}' is not a MAC address")
    return value


def parse_mac_range(cidr: str | None = None, first: str | None = None, last: str | None = None) -> tuple[int, int]:
    """Inclusive (first, last) ints of a MAC range given as ``cidr`` or as ``first`` + ``last``.

    cidr forms: "AA:BB:CC:00:00:00/24", "AA:BB:CC" (mask 24), "AA-BB-CC", "AABBCC",
    "AA:BB:CC/24", "AABBCCD" (mask 28). Bits set beyond the mask are refused (no silent
    truncation, as for IP CIDRs). Raises InvalidMacAddressRange when: both or neither form
    is given (or only one of first/last); the syntax is bad; first > last; the range holds a
    multicast MAC (any first octet with the I/G bit, so a range never spans first octets);
    the range holds 00:00:00:00:00:00.
    """
    if cidr is not None:
        if first is not None or last is not None:
            raise _bad("give either a cidr or first_address and last_address, not both")
        lo, hi = _cidr_bounds(cidr)
    elif first is not None and last is not None:
        lo, hi = _bound(first, "first_address"), _bound(last, "last_address")
    else:
        raise _bad("give either a cidr or both first_address and last_address")
    if lo > hi:
        raise _bad(f"first address {format_mac(lo)} is after last address {format_mac(hi)}")
    if lo & MULTICAST_BIT or lo >> 40 != hi >> 40:
        raise _bad(f"{format_mac(lo)}-{format_mac(hi)} includes multicast MAC addresses")
    if lo == 0:
        raise _bad("the range includes 00:00:00:00:00:00")
    return lo, hi


def mac_range_cidr(first: int, last: int) -> str | None:
    """Upper-case cidr "FA:16:3E:00:00:00/24" when [first, last] is exactly one aligned
    power-of-two block inside the 48-bit space, else None."""
    size = last - first + 1
    if first < 0 or last >= 1 << MAC_BITS or size <= 0 or size & (size - 1) or first % size:
        return None
    return f"{format_mac(first).upper()}/{MAC_BITS - (size.bit_length() - 1)}"


def range_size(first: int, last: int) -> int:
    """Number of MACs in the inclusive range; ValueError if first > last."""
    if first > last:
        raise ValueError(f"range ({first}, {last}) has first > last")
    return last - first + 1
