"""A minimal HTTP/1.1 endpoint for /health, /ready and /metrics.

Several plugins may name the same address (``prometheus :9153`` in three
server blocks is one listener), so endpoints are shared by address and a
plugin only adds its route.  Several routes on one path (``ready`` in two
server blocks on one address) answer together: 200 when every one says 200,
else the first failing status with the failing bodies joined, as CoreDNS
reports the union of the blocks' readiness.  Each response closes the
connection: scrapers and probes do not need keep-alive.
"""

from __future__ import annotations

import asyncio
import contextlib

from clusterdns.plugins.plugin import Route

REASONS = {200: "OK", 404: "Not Found", 503: "Service Unavailable", 400: "Bad Request"}


class HTTPEndpoint:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        #: path -> its routes (a single Route is accepted too, as older callers set it)
        self.routes: dict[str, Route | list[Route]] = {}
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(
                self._serve, self.host or None, self.port, reuse_address=True
            )
            self.port = self._server.sockets[0].getsockname()[1]

    def _routes(self, path: str) -> list[Route]:
        found = self.routes.get(path)
        if found is None:
            return []
        return found if isinstance(found, list) else [found]

    def add(self, path: str, route: Route) -> None:
        routes = self._routes(path)
        if route not in routes:
            self.routes[path] = [*routes, route]

    def remove(self, path: str, route: Route) -> None:
        routes = [r for r in self._routes(path) if r != route]
        if routes:
            self.routes[path] = routes
        else:
            self.routes.pop(path, None)

    async def answer(self, path: str) -> tuple[int, str, bytes]:
        routes = self._routes(path)
        if not routes:
            return 404, "text/plain", b"404 page not found\n"
        results = [await route() for route in routes]
        failing = [r for r in results if r[0] != 200]
        if not failing:
            return results[0]
        status, ctype, _ = failing[0]
        return status, ctype, b", ".join(dict.fromkeys(r[2] for r in failing))

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
            status, ctype, body = await self.answer(path)
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
