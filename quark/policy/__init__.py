"""Neutron's policy, as data, overridable by operators (docs/policy.md).

``defaults/`` holds the rules (Neutron's names and check strings, Quark's
extensions in the same style), ``checks`` the custom checks Neutron registers,
``engine`` the oslo.policy Enforcer over them and the operator's file,
``sample`` the commented sample file. The API layer (``quark.api.authz``)
applies it the same way to every resource; services never import it.
"""

from __future__ import annotations

from quark.policy.engine import Parent, Policy

__all__ = ["Parent", "Policy"]
