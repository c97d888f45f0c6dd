"""The HTTP side of Neutron's ``quark`` IPAM driver: Quark's ``/v2.0/ipam``
API through a keystoneauth1 session, configured from Neutron's ``[quark]``
section, with no Neutron import (so it is testable on its own).

``[quark]``: ``url`` (Quark's endpoint), ``connect_retries``, and keystoneauth's
auth and session options (``auth_type``, ``auth_url``, ``username``, …,
``timeout``, ``cafile``, …), the same set Neutron's ``[nova]`` section takes.
Without ``auth_type`` no token is sent (Quark with ``auth_strategy = noauth``).
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import quote

from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import loading as ks_loading
from oslo_config import cfg

GROUP = "quark"
OPTS = [
    cfg.StrOpt("url", default="http://127.0.0.1:9696", help="Quark's API endpoint (without /v2.0)."),
    cfg.IntOpt(
        "connect_retries",
        default=1,
        min=0,
        help="Times a request that could not connect is sent again (allocations and releases are idempotent).",
    ),
]
DEFAULT_TIMEOUT = 10.0


class QuarkUnavailable(Exception):
    """Quark could not be reached or did not answer in time."""


class QuarkError(Exception):
    """Quark answered with an error: ``status`` and Neutron's error ``type``."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(f"{status} {kind}: {message}")
        self.status = status
        self.kind = kind
        self.message = message


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS, group=GROUP)
    ks_loading.register_session_conf_options(conf, GROUP)
    ks_loading.register_auth_conf_options(conf, GROUP)


class QuarkClient:
    """One per process (connections are kept alive between requests)."""

    def __init__(self, url: str, session: Any, timeout: float, connect_retries: int) -> None:
        self.base = url.rstrip("/") + "/v2.0/ipam"
        self.session = session
        self.timeout = timeout
        self.connect_retries = connect_retries

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts) -> QuarkClient:
        register_opts(conf)
        group = conf[GROUP]
        auth = ks_loading.load_auth_from_conf_options(conf, GROUP)
        session = ks_loading.load_session_from_conf_options(conf, GROUP, auth=auth)
        return cls(group.url, session, group.timeout or DEFAULT_TIMEOUT, group.connect_retries)

    def call(self, method: str, path: str, body: Any = None, params: dict | None = None) -> Any:
        """The decoded answer (None for 204); QuarkError for an error status,
        QuarkUnavailable when Quark cannot be reached or does not answer."""
        try:
            resp = self.session.request(
                self.base + path,
                method,
                json=body,
                params=params,
                raise_exc=False,
                timeout=self.timeout,
                connect_retries=self.connect_retries,
                authenticated=self.session.auth is not None,
            )
        except (ks_exc.ConnectionError, ks_exc.RequestTimeout) as exc:
            raise QuarkUnavailable(str(exc)) from exc
        if resp.status_code >= 400:
            kind, message = "", resp.text[:500]
            try:
                error = resp.json()["NeutronError"]
                kind, message = error.get("type", ""), error.get("message", message)
            except (ValueError, KeyError, TypeError):
                pass
            if resp.status_code >= 500:
                raise QuarkUnavailable(f"{resp.status_code} {kind}: {message}")
            raise QuarkError(resp.status_code, kind, message)
        return None if resp.status_code == 204 else resp.json()

    # --- the API -------------------------------------------------------------------

    def register_subnet(self, subnet_id: str, attrs: dict) -> dict:
        return self.call("PUT", f"/subnets/{quote(subnet_id)}", {"subnet": attrs})["subnet"]

    def get_subnet(self, subnet_id: str) -> dict:
        return self.call("GET", f"/subnets/{quote(subnet_id)}")["subnet"]

    def remove_subnet(self, subnet_id: str) -> None:
        self.call("DELETE", f"/subnets/{quote(subnet_id)}")

    def allocate(self, attrs: dict) -> dict:
        return self.call("POST", "/allocations", {"allocation": attrs})["allocation"]

    def release(self, subnet_id: str, address: str, holder: str | None) -> None:
        params = None if holder is None else {"holder": holder}
        self.call("DELETE", f"/subnets/{quote(subnet_id)}/allocations/{quote(address)}", params=params)


_lock = threading.Lock()
_clients: dict[int, QuarkClient] = {}


def client_for(conf: cfg.ConfigOpts) -> QuarkClient:
    """The process's client for ``conf`` (made on first use)."""
    with _lock:
        if id(conf) not in _clients:
            _clients[id(conf)] = QuarkClient.from_conf(conf)
        return _clients[id(conf)]
