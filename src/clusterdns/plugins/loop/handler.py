"""The loop handler: detect a forwarding loop at start-up and stop the process (CoreDNS's loop).

At start the plugin sends ``HINFO <random>.<random>.<zone>`` to its own
server; when the query comes back through the chain more than twice, a
forwarder sends our queries back to us: CoreDNS logs a fatal error and exits.
The probe is retried every second for up to 30 s while the server does not
answer; two seconds after an answer the plugin turns itself off.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import struct
import sys
from collections.abc import Callable

from clusterdns.dns.wire import text_to_wire
from clusterdns.plugins.plugin import DetachedHost, Handler, Host, Plugin, Reply, Request
from clusterdns.tasks import cancel_and_wait

log = logging.getLogger("clusterdns.plugins.loop")

TYPE_HINFO = 13
PROBE_DEADLINE = 30.0
PROBE_RETRY = 1.0
DISABLE_AFTER = 2.0
LIMIT = 2  # CoreDNS: fatal once the probe was seen more than twice


def exit_fatally(message: str) -> None:
    """Go's log.Fatalf: print at FATAL and exit with status 1."""
    log.critical("[FATAL] plugin/loop: %s", message)
    logging.shutdown()
    sys.stdout.flush()
    os._exit(1)


def probe_name(zone: str) -> str:
    """``<random-int>.<random-int>.<zone>`` with 62-bit random integers, as CoreDNS."""
    first, second = secrets.randbelow(1 << 62), secrets.randbelow(1 << 62)
    return f"{first}.{second}.{zone}" if zone != "." else f"{first}.{second}."


class Loop(Plugin):
    name = "loop"
    replies_outlive_reload = True
    memo_safe = True

    def __init__(
        self,
        zone: str,
        host: str,
        port: int,
        fatal: Callable[[str], None],
        server: Host | None = None,
    ) -> None:
        self.zone = zone
        self.qname = probe_name(zone)
        self.host = host
        self.port = port
        self.fatal = fatal
        self.server: Host = server or DetachedHost()
        self.seen = 0
        self.probes = 0  # probes sent; ``seen`` counts those that came back through the chain
        self.disabled = False
        self._task: asyncio.Task[None] | None = None

    @property
    def address(self) -> str:
        # Go's net.JoinHostPort, as CoreDNS builds it: an IPv6 host in brackets.
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    async def serve(self, request: Request, next: Handler) -> Reply:
        query = request.query
        if query.qtype != TYPE_HINFO or self.disabled:
            return await next(request)
        if query.name == self.qname:
            self.seen += 1
            if self.seen > LIMIT:
                client = request.client
                remote = (
                    f"[{client[0]}]:{client[1]}" if ":" in client[0] else f"{client[0]}:{client[1]}"
                )
                self.disabled = True
                self.fatal(
                    f'Loop ({remote} -> {self.address}) detected for zone "{self.zone}", see '
                    f'https://coredns.io/plugins/loop#troubleshooting. Query: "HINFO {self.qname}"'
                )
        return await next(request)

    def serving(self) -> None:
        """Probe once this configuration answers (CoreDNS probes from OnStartup)."""
        self._task = asyncio.ensure_future(self._probe())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _probe(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PROBE_DEADLINE
        port = self.port = self.server.bound_port(self.host, self.port)
        host = self.host or "127.0.0.1"
        while loop.time() < deadline:
            if await self._exchange(host, port):
                await asyncio.sleep(DISABLE_AFTER)
                break
            self.seen = 0
            await asyncio.sleep(PROBE_RETRY)
        self.disabled = True

    async def _exchange(self, host: str, port: int) -> bool:
        question = text_to_wire(self.qname) + struct.pack(">HH", TYPE_HINFO, 1)
        wire = secrets.token_bytes(2) + struct.pack(">HHHHH", 0x0100, 1, 0, 0, 0) + question
        loop = asyncio.get_running_loop()
        answered: asyncio.Future[bool] = loop.create_future()

        class Probe(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: object) -> None:
                if data[:2] == wire[:2] and not answered.done():
                    answered.set_result(True)

            def error_received(self, exc: Exception) -> None:
                if not answered.done():
                    answered.set_result(False)

        try:
            transport, _ = await loop.create_datagram_endpoint(Probe, remote_addr=(host, port))
        except OSError:
            return False
        try:
            transport.sendto(wire)
            self.probes += 1
            # dns.Exchange's default timeout is 2 s.
            return await asyncio.wait_for(answered, 2.0)
        except TimeoutError:
            return False
        finally:
            transport.close()
