"""A clusterdns server over a cluster manifest, in this process, on 127.0.0.1 (port 0).

Used by ``explain --cluster``: the server runs its own event loop in a thread so the
caller's blocking resolver client can talk to it as any real client would.  It serves
the cluster zone (and its reverse zones) only: a name outside them gets REFUSED, as
there is no upstream to forward to.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from clusterdns.server.server import Server


def cluster_corefile(manifest: str, domain: str = "cluster.local") -> str:
    return (
        f"{domain}:0 in-addr.arpa:0 ip6.arpa:0 {{\n"
        "    bind 127.0.0.1\n"
        "    errors\n"
        f"    kubernetes {domain} in-addr.arpa ip6.arpa {{\n"
        f'        manifests "{manifest}"\n'
        "        pods insecure\n"
        "        fallthrough in-addr.arpa ip6.arpa\n"
        "    }\n"
        "}\n"
    )


class ThreadedServer:
    """A Server started on its own loop in a daemon thread; ``stop()`` undoes ``start()``."""

    def __init__(self, corefile: str, filename: str = "Corefile") -> None:
        self.server = Server(corefile, filename, default_port=0)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def _call(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> ThreadedServer:
        self.thread.start()
        try:
            self._call(self.server.start())
        except BaseException:
            self._halt()
            raise
        return self

    def stop(self) -> None:
        try:
            self._call(self.server.stop())
        finally:
            self._halt()

    def _halt(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    @property
    def address(self) -> tuple[str, int]:
        return "127.0.0.1", self.server.addresses()[0][1]


@contextmanager
def cluster_server(manifest: str, domain: str = "cluster.local") -> Iterator[ThreadedServer]:
    """Serve ``manifest``'s cluster on 127.0.0.1:<ephemeral> for the ``with`` block."""
    server = ThreadedServer(cluster_corefile(manifest, domain), "explain --cluster").start()
    try:
        yield server
    finally:
        server.stop()
