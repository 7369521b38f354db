"""UDP and TCP listeners: the only code that touches the sockets of the server.

The UDP path for a query seen before is a dict lookup, an ID patch and a
``sendto``; everything else is handed to ``Dispatcher.resolve`` as a task,
with a bound on how many may be in flight (over it, packets are dropped and
counted).  TCP follows RFC 7766: two-byte length framing, several queries per
connection answered as they complete, an idle timeout and a cap on open
connections.
"""

from __future__ import annotations

import asyncio
import struct
from time import perf_counter

from clusterdns.server.dispatch import Dispatcher
from clusterdns.server.stats import FAST

MAX_UDP_IN_FLIGHT = 4096
MAX_TCP_CONNECTIONS = 1024
MAX_TCP_QUERIES_IN_FLIGHT = 128  # per connection
TCP_IDLE_TIMEOUT = 10.0  # seconds, CoreDNS's default idle timeout
TCP_READ_TIMEOUT = 3.0  # once a message has started, the rest must come soon


def _host(sockname: object) -> str:
    return str(sockname[0]) if isinstance(sockname, tuple) and sockname else ""


class UDPListener(asyncio.DatagramProtocol):
    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self.transport: asyncio.DatagramTransport | None = None
        self.local = ""
        self.in_flight = 0
        self.tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.local = _host(transport.get_extra_info("sockname"))

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        start = perf_counter()
        entry = self.dispatcher.udp_memo.entries.get(data[2:])
        if entry is not None and start < entry[2] and entry[4][0] == entry[5]:
            reply = data[:2] + entry[0]
            self.transport.sendto(reply, addr)  # type: ignore[union-attr]
            sent = perf_counter()
            if self.dispatcher.tapped:
                self.dispatcher.tap_memo(
                    entry,
                    data=data,
                    wire=reply,
                    client=addr,
                    transport="udp",
                    local=self.local,
                    received=start,
                    sent=sent,
                )
            spent = sent - start
            if spent < FAST:
                cell = entry[1]
                cell[0] += 1
                cell[1] += spent
            else:
                self.dispatcher.stats.observe(entry[3], spent)
            return
        if self.in_flight >= MAX_UDP_IN_FLIGHT:
            self.dispatcher.stats.drop(self.dispatcher.server, "udp queue full")
            return
        self.in_flight += 1
        task = asyncio.ensure_future(self._answer(data, addr, start))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _answer(self, data: bytes, addr: tuple[str, int], start: float) -> None:
        try:
            wire = await self.dispatcher.resolve(
                data, addr, transport="udp", received=start, local=self.local
            )
            if wire is not None and self.transport is not None:
                self.transport.sendto(wire, addr)
        finally:
            self.in_flight -= 1

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a client that went away: nothing to do.
        pass


class TCPServer:
    """Accepts connections and runs one ``TCPConnection`` per client."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self.connections: set[TCPConnection] = set()

    def protocol(self) -> TCPConnection:
        return TCPConnection(self)


class TCPConnection(asyncio.Protocol):
    def __init__(self, server: TCPServer) -> None:
        self.server = server
        self.dispatcher = server.dispatcher
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.peer: tuple[str, int] = ("", 0)
        self.local = ""
        self.in_flight = 0
        self.idle: asyncio.TimerHandle | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.peer = (peer[0], peer[1]) if peer else ("", 0)
        self.local = _host(transport.get_extra_info("sockname"))
        if len(self.server.connections) >= MAX_TCP_CONNECTIONS:
            self.dispatcher.stats.drop(self.dispatcher.server, "tcp connection limit")
            transport.close()
            return
        self.server.connections.add(self)
        self._arm(TCP_IDLE_TIMEOUT)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        if self.idle is not None:
            self.idle.cancel()
        for task in self.tasks:
            task.cancel()
        self.transport = None

    def _arm(self, seconds: float) -> None:
        if self.idle is not None:
            self.idle.cancel()
        loop = asyncio.get_running_loop()
        self.idle = loop.call_later(seconds, self._timeout)

    def _timeout(self) -> None:
        if self.in_flight:
            self._arm(TCP_IDLE_TIMEOUT)
            return
        if self.buffer:
            self.dispatcher.stats.drop(self.dispatcher.server, "tcp read timeout")
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= 2:
            length = (self.buffer[0] << 8) | self.buffer[1]
            if len(self.buffer) < 2 + length:
                break
            message = bytes(self.buffer[2 : 2 + length])
            del self.buffer[: 2 + length]
            self._query(message)
        # A partial message must finish soon; a quiet connection may idle longer.
        self._arm(TCP_READ_TIMEOUT if self.buffer else TCP_IDLE_TIMEOUT)

    def _query(self, message: bytes) -> None:
        start = perf_counter()
        entry = self.dispatcher.tcp_memo.entries.get(message[2:])
        if entry is not None and start < entry[2] and entry[4][0] == entry[5]:
            reply = message[:2] + entry[0]
            self._write(reply)
            sent = perf_counter()
            if self.dispatcher.tapped:
                self.dispatcher.tap_memo(
                    entry,
                    data=message,
                    wire=reply,
                    client=self.peer,
                    transport="tcp",
                    local=self.local,
                    received=start,
                    sent=sent,
                )
            self.dispatcher.stats.observe(entry[3], sent - start)
            return
        if self.in_flight >= MAX_TCP_QUERIES_IN_FLIGHT:
            self.dispatcher.stats.drop(self.dispatcher.server, "tcp queue full")
            return
        self.in_flight += 1
        task = asyncio.ensure_future(self._answer(message, start))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _answer(self, message: bytes, start: float) -> None:
        try:
            wire = await self.dispatcher.resolve(
                message, self.peer, transport="tcp", received=start, local=self.local
            )
            if wire is None:
                # RFC 7766 6.2.4: on garbage we may close the connection.
                if self.transport is not None:
                    self.transport.close()
                return
            self._write(wire)
        finally:
            self.in_flight -= 1

    def _write(self, wire: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(struct.pack(">H", len(wire)) + wire)
