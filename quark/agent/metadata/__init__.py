"""Metadata for instances: a VM's ``http://169.254.169.254/`` reaches Nova's
metadata API with the instance id, project id and signature Nova checks.

Two pieces, as Neutron's (docs/metadata.md):

- ``proxy``   the in-namespace proxy (``python -m quark.agent.metadata.proxy``),
              one per served network (DHCP namespace) or router (router
              namespace): listens on 169.254.169.254:80, replaces whatever the
              VM sent in the headers it trusts with the TCP peer's address and
              its network or router id, and passes the request to the host's
              metadata agent over a unix socket;
- ``spawn``   starting, checking and stopping that proxy in a namespace;
- ``agent``   the host-level metadata agent (``quark metadata-agent``) on the
              unix socket: finds the port by (network or router, source IP)
              through the API (``lookup``), signs the instance id
              (``signing``) and forwards to Nova's metadata API with httpx.
"""
