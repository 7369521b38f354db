"""An in-process clusterdns server for tests: booted from a Corefile string on loopback.

The server runs its own event loop in a thread, so a test talks to it with
plain blocking dnspython clients, as any real client would.
"""

from __future__ import annotations

import asyncio
import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dns.message
import dns.query

from clusterdns.server.server import Server


class RunningServer:
    def __init__(self, corefile: str, filename: str = "Corefile") -> None:
        self.server = Server(corefile, filename, default_port=0)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> RunningServer:
        self.thread.start()
        self.call(self.server.start())
        return self

    def call(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        try:
            self.call(self.server.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()

    @property
    def port(self) -> int:
        return self.server.addresses()[0][1]

    @property
    def host(self) -> str:
        host = self.server.addresses()[0][0]
        return "127.0.0.1" if host in ("0.0.0.0", "") else host

    def udp(self, name: str, rdtype: str = "A", **kwargs: Any) -> dns.message.Message:
        query = dns.message.make_query(name, rdtype, **kwargs)
        return dns.query.udp(query, self.host, port=self.port, timeout=3)

    def tcp(self, name: str, rdtype: str = "A", **kwargs: Any) -> dns.message.Message:
        query = dns.message.make_query(name, rdtype, **kwargs)
        return dns.query.tcp(query, self.host, port=self.port, timeout=3)

    def http_port(self, path: str) -> int:
        for endpoint in self.server.http.values():
            if path in endpoint.routes:
                return endpoint.port
        raise LookupError(f"no HTTP endpoint serves {path}")


@contextmanager
def running(corefile: str, filename: str = "Corefile") -> Iterator[RunningServer]:
    server = RunningServer(corefile, filename).start()
    try:
        yield server
    finally:
        server.stop()


def answers(message: dns.message.Message) -> list[str]:
    """The answer section as sorted zone-file lines (owner TTL class type rdata)."""
    return sorted(rr for rrset in message.answer for rr in rrset.to_text().splitlines())


def http_get(port: int, path: str) -> tuple[int, bytes]:
    """GET ``path`` from one of the server's HTTP endpoints on 127.0.0.1: (status, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()
