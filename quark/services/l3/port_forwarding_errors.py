"""The errors of floating IP port forwardings, with Neutron's names (the wire
``type``), statuses and messages (neutron/services/portforwarding/common/exceptions.py;
the plugin's other refusals are neutron-lib's ``BadRequest`` for ``port_forwarding``)."""

from __future__ import annotations

from quark import errors

RESOURCE = "port_forwarding"


class PortForwardingNotFound(errors.NotFound):
    message = "Port Forwarding {id} could not be found."


class PortForwardingNotSupportFilterField(errors.BadRequest):
    message = "Port Forwarding filter {filter} is not supported."


class FipInUseByPortForwarding(errors.InUse):
    message = "Floating IP {id} in use by Port Forwarding resources."


class PortHasBindingFloatingIP(errors.InUse):
    message = (
        "Cannot create port forwarding to floating IP {floating_ip_address} ({fip_id}) with port {port_id} "
        "using fixed IP {fixed_ip}, as that port already has a binding floating IP."
    )


def bad(msg: str) -> errors.QuarkError:
    """Neutron's ``BadRequest(resource='port_forwarding', msg=...)``."""
    return errors.BadRequest(resource=RESOURCE, msg=msg)
