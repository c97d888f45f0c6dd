"""The check strings of the secure-RBAC personas, as Neutron's defaults spell them.

Operators' policy files name these same rules (``rule:admin_only``,
``rule:service_api``, ``rule:network_owner`` ...), so they are defined in
``defaults/base.py`` under Neutron's names and composed here.
"""

from __future__ import annotations

ADMIN = "rule:admin_only"
SERVICE = "rule:service_api"
PROJECT_MANAGER = "role:manager and project_id:%(project_id)s"
PROJECT_MEMBER = "role:member and project_id:%(project_id)s"
PROJECT_READER = "role:reader and project_id:%(project_id)s"
NET_OWNER = "rule:network_owner"
SG_OWNER = "rule:sg_owner"


def either(*checks: str) -> str:
    """``(a) or (b) ...``: each alternative parenthesised."""
    return " or ".join(f"({c})" for c in checks)


def any_of(*checks: str) -> str:
    """``a or b ...`` as written (the alternatives keep their own precedence)."""
    return " or ".join(checks)


ADMIN_OR_SERVICE = either(ADMIN, SERVICE)
ADMIN_OR_PROJECT_MANAGER = either(ADMIN, PROJECT_MANAGER)
ADMIN_OR_PROJECT_MEMBER = either(ADMIN, PROJECT_MEMBER)
ADMIN_OR_PROJECT_READER = either(ADMIN, PROJECT_READER)
ADMIN_OR_NET_OWNER_MEMBER = either(ADMIN, f"role:member and {NET_OWNER}")
ADMIN_OR_NET_OWNER_READER = either(ADMIN, f"role:reader and {NET_OWNER}")
ADMIN_OR_SG_OWNER_MEMBER = either(ADMIN, f"role:member and {SG_OWNER}")
ADMIN_OR_SG_OWNER_READER = either(ADMIN, f"role:reader and {SG_OWNER}")
# A sub-resource's parent (a floating IP's port forwardings): neutron-lib's ADMIN_OR_PARENT_OWNER_*.
PARENT_OWNER = "rule:ext_parent_owner"
ADMIN_OR_PARENT_OWNER_MEMBER = either(ADMIN, f"role:member and {PARENT_OWNER}")
ADMIN_OR_PARENT_OWNER_READER = either(ADMIN, f"role:reader and {PARENT_OWNER}")
