"""Where the client reached us, and the permanent links of every resource view
(the ``quark-resource-links`` extension, docs/links.md).

Every view carries ``links``, as the OpenStack compute API renders them::

    "links": [{"rel": "self", "href": "{base}/v2.0/ports/{id}"},
              {"rel": "bookmark", "href": "{base}/ports/{id}"}]

``self`` names the resource in the current API version; ``bookmark`` names
it without a version and stays valid for as long as the resource exists
(``CollectionRoutes`` serves it). Lists of thousands of ports go through
``Linker.add``: the prefixes are built once per request, each view costs two
string concatenations and no URL parsing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request

ALIAS = "quark-resource-links"
ATTRIBUTE = "links"
VERSION = "v2.0"


def base_url(request: Request) -> str:
    """Scheme://host[/prefix] as the client sees it.

    Behind a reverse proxy, ``X-Forwarded-Proto`` / ``-Host`` name what the
    client used and ``X-Forwarded-Prefix`` the path the proxy mounts Quark
    under (what oslo.middleware's HTTPProxyToWSGI honours in front of
    Neutron); they are trusted as that middleware trusts them."""
    headers = request.headers
    proto = headers.get("x-forwarded-proto") or request.url.scheme
    host = headers.get("x-forwarded-host") or headers.get("host") or request.url.netloc
    prefix = headers.get("x-forwarded-prefix", "").rstrip("/")
    if prefix and not prefix.startswith("/"):
        prefix = "/" + prefix
    return f"{proto}://{host}{prefix}"


class Linker:
    """Adds ``links`` to the views of one collection path, for one request."""

    __slots__ = ("bookmark_prefix", "key", "self_prefix")

    def __init__(self, base: str, path: str, key: str = "id") -> None:
        self.self_prefix = f"{base}/{VERSION}/{path}/"
        self.bookmark_prefix = f"{base}/{path}/"
        self.key = key

    def add(self, view: dict[str, Any]) -> dict[str, Any]:
        """``view`` itself, with its links (a view without its key gets none)."""
        ident = view.get(self.key)
        if ident is not None:
            view[ATTRIBUTE] = self.of(ident)
        return view

    def of(self, ident: str) -> list[dict[str, str]]:
        """The links of the resource ``ident`` (already safe in a URL path segment)."""
        return [
            {"rel": "self", "href": self.self_prefix + ident},
            {"rel": "bookmark", "href": self.bookmark_prefix + ident},
        ]


def asked(fields: list[str]) -> bool:
    """Whether the answer shows ``links``: always, unless ``fields`` narrows it
    without naming them (as Neutron's extension attributes behave)."""
    return not fields or ATTRIBUTE in fields


def linker(request: Request, path: str, key: str = "id") -> Linker:
    return Linker(base_url(request), path, key)


def add_if_asked(request: Request, path: str, fields: list[str], key: str = "id") -> Callable[[dict], dict]:
    """``Linker.add`` for the request's views, or the identity when ``fields`` leaves links out."""
    return linker(request, path, key).add if asked(fields) else _unchanged


def _unchanged(view: dict[str, Any]) -> dict[str, Any]:
    return view
