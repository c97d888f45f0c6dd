"""keystoneauth1 sessions from the places OpenStack services keep credentials.

Two sources, both as operators already write them:

- a table of keystoneauth1 loading options (``auth_type``, ``auth_url``,
  ``username``, ``password``, ``project_name``, ``user_domain_name``,
  ``project_domain_name``, ...), as Neutron's ``[nova]`` section; the keys
  of ``SESSION_KEYS`` and ``ENDPOINT_KEYS`` configure the session and the
  endpoint lookup instead of the plugin;
- a cloud of a ``clouds.yaml`` (``$OS_CLIENT_CONFIG_FILE``, ``./clouds.yaml``,
  ``~/.config/openstack/clouds.yaml``, ``/etc/openstack/clouds.yaml``).

The session's auth plugin caches its token and fetches a new one shortly
before the old one expires (keystoneauth1's own renewal): callers ask
``token()`` for every request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from keystoneauth1 import loading, session

# Options of the session, not of the auth plugin (keystoneauth1 / Neutron's [nova] names).
SESSION_KEYS = ("cafile", "certfile", "keyfile", "insecure", "timeout", "verify", "collect_timing", "split_loggers")
# Where the service's endpoint is looked up in the catalog.
ENDPOINT_KEYS = ("region_name", "endpoint_type", "interface", "valid_interfaces")
# A token this close to its expiry is renewed before it is used.
RENEW_BEFORE = 120

CLOUDS_FILES = ("clouds.yaml", "~/.config/openstack/clouds.yaml", "/etc/openstack/clouds.yaml")


def _truthy(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).strip().lower() in ("1", "true", "yes", "on")


@dataclass
class ServiceAuth:
    """A keystoneauth1 session and where its service's endpoint is looked up."""

    session: session.Session
    region_name: str | None = None
    interface: str = "public"

    def token(self) -> str:
        """The current token; blocks on Keystone only when a new one is needed."""
        plugin = self.session.auth
        ref = getattr(plugin, "auth_ref", None)
        if ref is not None and not ref.will_expire_soon(RENEW_BEFORE):
            return str(ref.auth_token)
        token = self.session.get_token()
        if not token:
            raise RuntimeError("Keystone gave no token")
        return str(token)

    def needs_keystone(self) -> bool:
        """Whether ``token()`` would call Keystone (run it in a thread then)."""
        ref = getattr(self.session.auth, "auth_ref", None)
        return ref is None or ref.will_expire_soon(RENEW_BEFORE)

    def invalidate(self) -> None:
        """Forget the cached token (the API refused it): the next ``token()`` fetches one."""
        if self.session.auth is not None:
            self.session.auth.invalidate()

    def endpoint(self, service_type: str) -> str:
        url = self.session.get_endpoint(
            service_type=service_type, interface=self.interface, region_name=self.region_name
        )
        if not url:
            raise RuntimeError(f"no {service_type} endpoint ({self.interface}) in the Keystone catalog")
        return str(url).rstrip("/")


def _verify(sess_opts: Mapping[str, Any]) -> Any:
    """requests' verify: False, a CA bundle path or True (the cloud's TLS options)."""
    if _truthy(sess_opts.get("insecure", False)):
        return False
    if sess_opts.get("cafile"):
        return sess_opts["cafile"]
    if "verify" in sess_opts:
        return sess_opts["verify"] if isinstance(sess_opts["verify"], str) else _truthy(sess_opts["verify"])
    return True


def _session(plugin: Any, sess_opts: Mapping[str, Any]) -> session.Session:
    cert = sess_opts.get("certfile")
    if cert and sess_opts.get("keyfile"):
        cert = (cert, sess_opts["keyfile"])
    timeout = float(sess_opts["timeout"]) if "timeout" in sess_opts else None
    return session.Session(auth=plugin, verify=_verify(sess_opts), cert=cert, timeout=timeout)


def from_options(options: Mapping[str, Any]) -> ServiceAuth:
    """A session from keystoneauth1 loading options (Neutron's [nova] section style)."""
    opts = {k: v for k, v in options.items() if v is not None and v != ""}
    auth_type = str(opts.pop("auth_type", opts.pop("auth_plugin", "password")))
    sess_opts = {k: opts.pop(k) for k in SESSION_KEYS if k in opts}
    where = {k: opts.pop(k) for k in ENDPOINT_KEYS if k in opts}
    loader: Any = loading.get_plugin_loader(auth_type)
    known = {o.dest for o in loader.get_options()}
    unknown = sorted(set(opts) - known)
    if unknown:
        raise ValueError(f"unknown {auth_type} auth option(s): {', '.join(unknown)}")
    sess = _session(loader.load_from_options(**opts), sess_opts)
    interface = str(where.get("endpoint_type") or where.get("interface") or where.get("valid_interfaces") or "public")
    region = where.get("region_name")
    return ServiceAuth(sess, str(region) if region else None, interface.removesuffix("URL"))


def clouds_file() -> Path:
    candidates = [os.environ.get("OS_CLIENT_CONFIG_FILE"), *CLOUDS_FILES]
    for candidate in candidates:
        if candidate and Path(candidate).expanduser().is_file():
            return Path(candidate).expanduser()
    raise FileNotFoundError("no clouds.yaml found (set OS_CLIENT_CONFIG_FILE or put one in ~/.config/openstack/)")


def from_cloud(name: str, path: Path | None = None) -> ServiceAuth:
    """A session for the cloud ``name`` of a clouds.yaml."""
    path = path or clouds_file()
    clouds = (yaml.safe_load(path.read_text()) or {}).get("clouds", {})
    if name not in clouds:
        raise ValueError(f"{path}: no cloud named {name!r}")
    cloud = clouds[name]
    options: dict[str, Any] = dict(cloud.get("auth", {}))
    options["auth_type"] = cloud.get("auth_type", "password")
    for key in ("region_name", "interface", "cafile", "cert", "key", "verify", "insecure"):
        if key in cloud:
            options[{"cert": "certfile", "key": "keyfile"}.get(key, key)] = cloud[key]
    return from_options(options)
