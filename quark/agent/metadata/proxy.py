"""The in-namespace metadata proxy: Neutron's haproxy, in asyncio and the
standard library only (one small process per served network or router).

It listens where the VM sends its requests (169.254.169.254:80 in a DHCP
namespace; any address and port in a router namespace), and for each
request:

- drops every header the agent trusts (``X-Forwarded-For``,
  ``X-Quark-Network-ID``, ``X-Quark-Router-ID``, ``X-Instance-ID``,
  ``X-Tenant-ID``, ``X-Instance-ID-Signature``) and hop-by-hop headers,
  whatever the VM put there;
- adds ``X-Forwarded-For: <TCP peer address>`` and its network or router id;
- sends the request (``Connection: close``) to the host's metadata agent on
  its unix socket and relays the answer back byte for byte.

No agent on the socket: ``503``. A chunked request body: ``411``.

Run: ``python -m quark.agent.metadata.proxy --socket PATH (--network-id ID |
--router-id ID) [--bind 169.254.169.254] [--port 80] --pid-file=PATH
[--log-file PATH] [--foreground]``. It binds before it detaches (a bind
error is its exit status), with ``IP_FREEBIND`` so the address may come
later; the pid file names the detached process.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys
from collections.abc import Sequence

from quark.agent.metadata import signing

log = logging.getLogger("quark.metadata.proxy")

METADATA_IP = "169.254.169.254"
MAX_HEAD = 64 * 1024
MAX_BODY = 1024 * 1024
IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}
_TRUSTED = {
    h.lower()
    for h in (
        signing.FORWARDED_FOR,
        signing.NETWORK_ID,
        signing.ROUTER_ID,
        signing.INSTANCE_ID,
        signing.TENANT_ID,
        signing.SIGNATURE,
        "Forwarded",
    )
}


class BadRequest(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def parse_head(head: bytes) -> tuple[str, str, list[tuple[str, str]]]:
    """Request line and headers of an HTTP/1.x request head."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(400, "Bad Request")
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest(400, "Bad Request")
        headers.append((name, value.strip()))
    return parts[0], parts[1], headers


def body_length(headers: list[tuple[str, str]]) -> int:
    if any(n.lower() == "transfer-encoding" for n, _ in headers):
        raise BadRequest(411, "Length Required")
    lengths = {v for n, v in headers if n.lower() == "content-length"}
    if not lengths:
        return 0
    if len(lengths) != 1 or not next(iter(lengths)).isdigit():
        raise BadRequest(400, "Bad Request")
    length = int(next(iter(lengths)))
    if length > MAX_BODY:
        raise BadRequest(413, "Payload Too Large")
    return length


def rewrite(
    method: str, target: str, headers: list[tuple[str, str]], peer: str, *, network_id: str = "", router_id: str = ""
) -> bytes:
    """The head sent to the agent: the VM's headers minus trusted and hop-by-hop ones, plus ours."""
    kept = [(n, v) for n, v in headers if n.lower() not in _TRUSTED | _HOP_BY_HOP]
    kept.append((signing.FORWARDED_FOR, peer))
    if network_id:
        kept.append((signing.NETWORK_ID, network_id))
    if router_id:
        kept.append((signing.ROUTER_ID, router_id))
    kept.append(("Connection", "close"))
    lines = [f"{method} {target} HTTP/1.1", *(f"{n}: {v}" for n, v in kept)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def error_response(status: int, reason: str) -> bytes:
    body = f"{status} {reason}\n".encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


class MetadataProxy:
    def __init__(self, socket_path: str, *, network_id: str = "", router_id: str = "", timeout: float = 30.0):
        if bool(network_id) == bool(router_id):
            raise ValueError("exactly one of network_id and router_id")
        self.socket_path = socket_path
        self.network_id = network_id
        self.router_id = router_id
        self.timeout = timeout

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = str((writer.get_extra_info("peername") or ("",))[0])
        try:
            await asyncio.wait_for(self._serve(peer, reader, writer), self.timeout)
        except BadRequest as exc:
            writer.write(error_response(exc.status, exc.reason))
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, TimeoutError) as exc:
            log.info("%s: %s", peer, type(exc).__name__)
        finally:
            try:
                await writer.drain()
                writer.close()
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass

    async def _serve(self, peer: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        method, target, headers = parse_head(await reader.readuntil(b"\r\n\r\n"))
        length = body_length(headers)
        body = await reader.readexactly(length) if length else b""
        head = rewrite(method, target, headers, peer, network_id=self.network_id, router_id=self.router_id)
        try:
            up_reader, up_writer = await asyncio.open_unix_connection(self.socket_path)
        except OSError as exc:
            log.warning("metadata agent unreachable on %s: %s", self.socket_path, exc)
            raise BadRequest(503, "Service Unavailable") from None
        try:
            up_writer.write(head + body)
            await up_writer.drain()
            first = True
            while chunk := await up_reader.read(65536):
                if first:
                    log.info("%s %s %s -> %s", peer, method, target, chunk[:12].decode("latin-1").split(" ")[-1])
                    first = False
                writer.write(chunk)
                await writer.drain()
        finally:
            up_writer.close()


def listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET:
        sock.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def serve(proxy: MetadataProxy, sock: socket.socket) -> None:
    server = await asyncio.start_server(proxy.handle, sock=sock, limit=MAX_HEAD)
    async with server:
        await server.serve_forever()


def _detach(pid_file: str, log_file: str) -> None:
    """Double fork; the grandchild goes on, the pid file names it, the caller's process exits 0."""
    first = os.fork()
    if first:  # the caller: exit 0 (`ip netns exec` sees success) once the pid file is written
        os.waitpid(first, 0)
        os._exit(0)
    os.setsid()
    child = os.fork()
    if child:
        _write_pid(pid_file, child)
        os._exit(0)
    fd = os.open(log_file or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(fd, 1)
    os.dup2(fd, 2)


def _write_pid(pid_file: str, pid: int) -> None:
    tmp = pid_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{pid}\n")
    os.replace(tmp, pid_file)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m quark.agent.metadata.proxy")
    parser.add_argument("--socket", required=True, help="the metadata agent's unix socket")
    key = parser.add_mutually_exclusive_group(required=True)
    key.add_argument("--network-id", default="")
    key.add_argument("--router-id", default="")
    parser.add_argument("--bind", default=METADATA_IP)
    parser.add_argument("--port", type=int, default=80)
    parser.add_argument("--pid-file", required=True)
    parser.add_argument("--log-file", default="")
    parser.add_argument("--foreground", action="store_true")
    args = parser.parse_args(argv)
    try:
        sock = listening_socket(args.bind, args.port)
    except OSError as exc:
        print(f"metadata proxy: cannot listen on {args.bind}:{args.port}: {exc}", file=sys.stderr)
        return 1
    proxy = MetadataProxy(args.socket, network_id=args.network_id, router_id=args.router_id)
    if args.foreground:
        _write_pid(args.pid_file, os.getpid())
    else:
        _detach(args.pid_file, args.log_file)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
    log.info("serving %s:%d for %s", args.bind, args.port, args.network_id or f"router {args.router_id}")
    try:
        asyncio.run(serve(proxy, sock))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
