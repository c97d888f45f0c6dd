"""The instance-id signature Nova's metadata API checks (``X-Instance-ID-Signature``):
HMAC-SHA256 of the instance id keyed with ``metadata_proxy_shared_secret``, in hex."""

from __future__ import annotations

import hashlib
import hmac

INSTANCE_ID = "X-Instance-ID"
TENANT_ID = "X-Tenant-ID"
SIGNATURE = "X-Instance-ID-Signature"
FORWARDED_FOR = "X-Forwarded-For"
#: Added by the in-namespace proxy; trusted only on the agent's unix socket.
NETWORK_ID = "X-Quark-Network-ID"
ROUTER_ID = "X-Quark-Router-ID"


def sign(secret: str, instance_id: str) -> str:
    return hmac.new(secret.encode(), instance_id.encode(), hashlib.sha256).hexdigest()


def verify(secret: str, instance_id: str, signature: str) -> bool:
    """What Nova does with the headers (constant-time comparison)."""
    return hmac.compare_digest(sign(secret, instance_id), signature)
