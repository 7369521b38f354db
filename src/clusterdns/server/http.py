"""A minimal HTTP/1.1 endpoint for /health, /ready and /metrics.

Several plugins may name the same address (``prometheus :9153`` in three
server blocks is one listener), so endpoints are shared by address and a
plugin only adds its route.  Each response closes the connection: scrapers
and probes do not need keep-alive.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

Route = Callable[[], Awaitable[tuple[int, str, bytes]]]  # -> status, content type, body

REASONS = {200: "OK", 404: "Not Found", 503: "Service Unavailable", 400: "Bad Request"}


def split_address(address: str, default_port: int) -> tuple[str, int]:
    """``host:port``, ``:port`` or ``[v6]:port`` -> (host, port); empty host = all interfaces."""
    if not address:
        return "", default_port
    if address.startswith("["):
        host, _, port = address[1:].partition("]")
        return host, int(port[1:]) if port.startswith(":") else default_port
    if address.count(":") == 1:
        host, port = address.split(":")
        return host, int(port)
    return address, default_port


class HTTPEndpoint:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.routes: dict[str, Route] = {}
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(
                self._serve, self.host or None, self.port, reuse_address=True
            )
            self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            parts = head.split(b"\r\n", 1)[0].split()
            path = parts[1].decode("latin-1").split("?", 1)[0] if len(parts) >= 2 else ""
            route = self.routes.get(path)
            if route is None:
                status, ctype, body = 404, "text/plain", b"404 page not found\n"
            else:
                status, ctype, body = await route()
            writer.write(
                f"HTTP/1.1 {status} {REASONS.get(status, '')}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode("latin-1")
                + body
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass
        finally:
            writer.close()
