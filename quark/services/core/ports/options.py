"""Allowed address pairs and extra DHCP options of a port: checked and merged
as Neutron does; pure."""

from __future__ import annotations

from quark import errors


def address_pairs(pairs: list[dict], mac_text: str, port_security: bool, limit: int) -> list[dict]:
    """The pairs to store: each with a MAC (the port's when none is given),
    none twice. Pairs need port security (409) and at most ``limit`` of them."""
    if not pairs:
        return []
    if not port_security:
        raise errors.AddressPairAndPortSecurityRequired()
    if len(pairs) > limit:
        raise errors.AllowedAddressPairExhausted(quota=limit)
    out: list[dict] = []
    for pair in pairs:
        item = {"ip_address": pair["ip_address"], "mac_address": pair.get("mac_address") or mac_text}
        if item in out:
            raise errors.DuplicateAddressPairInRequest(**item)
        out.append(item)
    return out


def merge_dhcp_opts(current: list[dict], changes: list[dict]) -> list[dict]:
    """Merge options by (name, ip_version); ``opt_value: null`` deletes one."""
    merged = {(o["opt_name"], o.get("ip_version", 4)): o for o in current}
    for opt in changes:
        key = (opt["opt_name"], opt.get("ip_version", 4))
        if opt.get("opt_value") is None:
            merged.pop(key, None)
        else:
            merged[key] = {"opt_name": key[0], "opt_value": opt["opt_value"], "ip_version": key[1]}
    return list(merged.values())
