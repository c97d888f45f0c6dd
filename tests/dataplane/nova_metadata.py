"""A stand-in for Nova's metadata API, for the metadata tests: it checks
``X-Instance-ID-Signature`` as Nova does (HMAC-SHA256 of ``X-Instance-ID``
with the shared secret; 403 when wrong or missing) and answers the
instance's metadata from what the test registered.

A ``ThreadingHTTPServer`` on 127.0.0.1 (a free port) in a thread.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from quark.agent.metadata import signing
from tests.servers import free_port


class NovaMetadata:
    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.instances: dict[str, dict[str, Any]] = {}  # instance id -> meta_data.json
        self.requests: list[dict[str, str]] = []  # headers of every request, in order
        self.refused = 0
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> NovaMetadata:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def answer(self, path: str, headers: dict[str, str]) -> tuple[int, str, str]:
        self.requests.append(headers)
        instance_id = headers.get(signing.INSTANCE_ID.lower(), "")
        signature = headers.get(signing.SIGNATURE.lower(), "")
        if not instance_id or not signing.verify(self.secret, instance_id, signature):
            self.refused += 1
            return 403, "text/plain", "403 Forbidden: invalid proxy request signature\n"
        meta = self.instances.get(instance_id)
        if meta is None:
            return 404, "text/plain", "404 Not Found\n"
        if path == "/latest/meta-data/instance-id":
            return 200, "text/plain; charset=UTF-8", instance_id
        if path == "/openstack/latest/meta_data.json":
            return 200, "application/json", json.dumps(meta)
        return 404, "text/plain", "404 Not Found\n"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        nova = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, media, body = nova.answer(self.path, {k.lower(): v for k, v in self.headers.items()})
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", media)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
