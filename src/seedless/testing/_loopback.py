"""The loopback HTTP server that hosts the emulated services.

A :class:`LoopbackServer` is a ``ThreadingHTTPServer`` bound to 127.0.0.1 that speaks
HTTP/1.1 with keep-alive, answers each connection on its own thread, caps body sizes and the
number of open connections, and on :meth:`~LoopbackServer.close` shuts every open connection
and joins every thread it started. It hosts one or more services (:class:`Service`: a
:class:`~seedless.testing._server.ServiceEmulator`) and hands each request to the first
whose ``owns`` accepts its path.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import socketserver
import threading
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from seedless.errors import redact

from ._messages import Incoming, Reply

__all__ = ["LoopbackServer", "Service"]

logger = logging.getLogger("seedless.testing")


class Service(Protocol):
    """What the server asks of a hosted service (:class:`~seedless.testing.ServiceEmulator`)."""

    def owns(self, path: str) -> bool: ...

    def body_limit(self, path: str) -> int: ...

    def too_large(self) -> Reply: ...

    def error(self, status: int, message: str | None = None) -> Reply: ...

    def serve(self, incoming: Incoming) -> Reply: ...

    # driven by Emulator, which reaches its services through their servers
    def _attach(
        self,
        server: LoopbackServer,
        stopping: threading.Event,
        default_latency: Callable[[], float],
        sequence: Callable[[], int],
    ) -> None: ...

    def _detach(self) -> None: ...


class _BodyTooLarge(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    """Reads one request at a time off a keep-alive connection and writes the service's reply."""

    protocol_version = "HTTP/1.1"
    server_version = "seedless-emulator"
    timeout = 30  # idle keep-alive connections close after this many seconds
    disable_nagle_algorithm = True  # no 40 ms delayed-ACK stalls on keep-alive connections
    server: LoopbackServer

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        # the request line carries the query: a ?key= must not reach the access log
        logger.debug("%s %s", self.address_string(), redact(format % args))

    def _read_body(self, limit: int) -> bytes:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                size_line = self.rfile.readline(1024)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > limit:
                    raise _BodyTooLarge
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
        length = int(self.headers.get("content-length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        if length > limit:
            raise _BodyTooLarge
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        service = self.server.service_for(path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            raw = self._read_body(service.body_limit(path))
        except _BodyTooLarge:
            self.close_connection = True
            self._write(service.too_large())
            return
        except ValueError:
            self.close_connection = True
            self._write(service.error(400, "The request body could not be read."))
            return
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        incoming = Incoming(self.command, path, query, headers, raw)
        self._write(service.serve(incoming))

    def _write(self, reply: Reply) -> None:
        if reply.drop:
            self.close_connection = True
            self._shut()
            return
        if reply.path is not None:
            self._write_file(reply, reply.path)
            return
        body = reply.body
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(body)))
        if reply.truncate or self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if reply.truncate:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self._shut()
        else:
            self.wfile.write(body)

    def _write_file(self, reply: Reply, path: str) -> None:
        """Stream a file as the body, 1 MiB at a time (a truncate fault sends half)."""
        size = os.path.getsize(path)
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(size))
        if reply.truncate:
            self.send_header("Connection", "close")
        self.end_headers()
        left = size // 2 if reply.truncate else size
        with open(path, "rb") as handle:
            while left > 0:
                block = handle.read(min(left, 1 << 20))
                if not block:
                    break
                self.wfile.write(block)
                left -= len(block)
        if reply.truncate:
            self.wfile.flush()
            self.close_connection = True
            self._shut()

    def _shut(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


class LoopbackServer(ThreadingHTTPServer):
    """A threaded HTTP/1.1 server on 127.0.0.1 that can close all its connections and threads."""

    daemon_threads = True
    request_queue_size = 1024

    def __init__(self, port: int, services: Sequence[Service], max_connections: int) -> None:
        if not services:
            raise ValueError("a server needs at least one service")
        self.services: list[Service] = list(services)
        self.max_connections = max_connections
        self._lock = threading.Lock()
        self._active: dict[socket.socket, threading.Thread] = {}
        self._closing = False
        self._thread: threading.Thread | None = None
        super().__init__(("127.0.0.1", port), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind also looks up the host's FQDN, a DNS query that can stall.
        socketserver.TCPServer.server_bind(self)
        self.server_name = "127.0.0.1"
        self.server_port = self.port

    @property
    def port(self) -> int:
        """The port actually bound (useful when 0 asked for an ephemeral one)."""
        return int(self.server_address[1])

    def service_for(self, path: str) -> Service:
        """The first hosted service that owns ``path``; the last one takes the rest."""
        for service in self.services[:-1]:
            if service.owns(path):
                return service
        return self.services[-1]

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            if self._closing or len(self._active) >= self.max_connections:
                self.shutdown_request(request)
                return
            thread = threading.Thread(
                target=self.process_request_thread,
                args=(request, client_address),
                name="seedless-emulator-connection",
                daemon=True,
            )
            self._active[request] = thread
            thread.start()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._lock:
                self._active.pop(request, None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("connection from %s failed", client_address, exc_info=True)

    def start(self) -> None:
        """Serve on a background thread."""
        self._thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=f"seedless-emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        """Stop accepting, shut every open connection, and join every thread started."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
        with self._lock:
            self._closing = True
            active = list(self._active.items())
        for sock, _ in active:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for _, thread in active:
            thread.join(timeout=10)
        self.server_close()
