"""A lossy UDP relay on loopback that drops packets as the conntrack insert race does.

``LossyRelay`` is the asyncio adapter around ``race.ConntrackRace``: UDP on
127.0.0.1:PORT relayed through the race model to ``upstream`` (one upstream
socket per client flow, like a NAT), and TCP relayed unharmed on the same port.

Arrival times are the kernel's receive timestamps (SO_TIMESTAMPNS), so how
late this process reads a packet does not matter.  The window (default 5 ms)
is much wider than the kernel's (microseconds) so that a client preempted
between its two sends still loses the race.  The price: a client that sends
its second query after the first reply and within the window (single-request
on a fast loopback) is dropped here though it would not be in a cluster; use a
window below the round-trip time (``--window-ms 0.05``) to study that case.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections.abc import Callable
from types import TracebackType

from clusterdns.conntrackrace.race import Address, ConntrackRace, RaceCounters

# Linux's SO_TIMESTAMPNS (asm-generic value; Python's socket module does not name it): each
# datagram carries its kernel arrival time, so the race is judged on when packets
# arrived, not on when this process got round to reading them.
_SO_TIMESTAMPNS = 35
_TIMESPEC = struct.Struct("@qq")
_ANCILLARY_SIZE = socket.CMSG_SPACE(_TIMESPEC.size)


def _timestamped_udp_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
    sock.setblocking(False)
    sock.bind((host, port))
    return sock


def _arrival_ns(ancillary: list[tuple[int, int, bytes]]) -> int:
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            seconds, nanoseconds = _TIMESPEC.unpack_from(data)
            return int(seconds) * 1_000_000_000 + int(nanoseconds)
    return time.time_ns()


class LossyRelay:
    """UDP relay with the conntrack race, TCP relay without; use as ``async with``.

    >>> async with LossyRelay(("127.0.0.1", 5353), window=0.005) as relay:
    ...     relay.port  # send queries to 127.0.0.1:relay.port
    """

    def __init__(
        self,
        upstream: Address,
        *,
        window: float = 0.005,
        host: str = "127.0.0.1",
        port: int = 0,
        flow_timeout: float = 30.0,
        tcp: bool = True,
    ) -> None:
        self.upstream = upstream
        self.host = host
        self.port = port
        self.race = ConntrackRace(int(window * 1e9), int(flow_timeout * 1e9))
        self.tcp = tcp
        self.tcp_connections = 0
        self._listener: socket.socket | None = None
        self._tcp_server: asyncio.Server | None = None
        self._upstreams: dict[Address, socket.socket] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def counters(self) -> RaceCounters:
        return self.race.counters(self.tcp_connections)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for _ in range(20):
            listener = _timestamped_udp_socket(self.host, self.port)
            port = listener.getsockname()[1]
            if not self.tcp:
                break
            try:
                self._tcp_server = await asyncio.start_server(self._relay_tcp, self.host, port)
                break
            except OSError:
                # The TCP side of this ephemeral port is taken: try another port.
                listener.close()
                if self.port:
                    raise
        self._listener = listener
        self.port = port
        self._loop.add_reader(listener.fileno(), self._from_clients)
        self._sweeper = asyncio.create_task(self._sweep())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._listener is not None and self._loop is not None:
            self._loop.remove_reader(self._listener.fileno())
            self._listener.close()
            self._listener = None
        if self._tcp_server is not None:
            self._tcp_server.close()
            await self._tcp_server.wait_closed()
        for source in list(self._upstreams):
            self._close_flow(source)

    async def __aenter__(self) -> LossyRelay:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _from_clients(self) -> None:
        assert self._listener is not None
        while True:
            try:
                data, ancillary, _flags, addr = self._listener.recvmsg(65535, _ANCILLARY_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue
            source = (addr[0], addr[1])
            if not self.race.on_query(source, _arrival_ns(ancillary)):
                continue
            sock = self._upstreams.get(source)
            if sock is None:
                sock = self._open_flow(source)
            with contextlib.suppress(OSError):
                sock.send(data)

    def _open_flow(self, source: Address) -> socket.socket:
        assert self._loop is not None
        family = socket.AF_INET6 if ":" in self.upstream[0] else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.connect(self.upstream)
        self._upstreams[source] = sock
        self._loop.add_reader(sock.fileno(), self._from_upstream, source, sock)
        return sock

    def _from_upstream(self, source: Address, sock: socket.socket) -> None:
        while True:
            try:
                data = sock.recv(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # ICMP error from the upstream: the client will time out, as it would
            if self._listener is not None:
                with contextlib.suppress(OSError):
                    self._listener.sendto(data, source)
                self.race.on_reply(source, time.time_ns())

    def _close_flow(self, source: Address) -> None:
        sock = self._upstreams.pop(source, None)
        if sock is not None and self._loop is not None:
            self._loop.remove_reader(sock.fileno())
            sock.close()

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            for source in self.race.expire(time.time_ns()):
                self._close_flow(source)
            for source in [s for s in self._upstreams if not self.race.is_tracked(s)]:
                self._close_flow(source)

    async def _relay_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.tcp_connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            writer.close()


def serve_relay(
    upstream: Address,
    *,
    listen: str = "127.0.0.1",
    port: int = 0,
    window: float = 0.005,
    flow_timeout: float = 30.0,
    duration: float = 0.0,
    on_start: Callable[[int], None] | None = None,
) -> RaceCounters:
    """Run a LossyRelay until ``duration`` passes (0: until interrupted); return its counters."""
    relay = LossyRelay(upstream, window=window, host=listen, port=port, flow_timeout=flow_timeout)

    async def main() -> None:
        async with relay:
            if on_start is not None:
                on_start(relay.port)
            if duration > 0:
                await asyncio.sleep(duration)
            else:
                await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
    return relay.counters
