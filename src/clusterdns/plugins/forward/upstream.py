"""One upstream ("proxy" in CoreDNS): pooled connections, exchanges, in-band health checks.

As CoreDNS's ``plugin/pkg/proxy``: a connection is taken from the idle pool
(oldest first), used for one exchange and given back; idle connections older
than ``expire`` are closed when met.  A failed exchange starts a probe that
sends ``<domain> IN NS`` every ``health_check`` interval until the upstream
answers; every failed probe adds one to ``fails`` and the upstream counts as
down while ``fails > max_fails``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import ssl
import struct
import time
from collections import deque
from dataclasses import dataclass

from clusterdns.dns.codes import rcode_label
from clusterdns.dns.hexdump import hexdump
from clusterdns.dns.wire import QR, TYPE_NS, text_to_wire
from clusterdns.plugins.forward import metrics
from clusterdns.plugins.forward.options import UpstreamAddress
from clusterdns.tasks import cancel_and_wait

log = logging.getLogger("clusterdns.plugins.forward")

HEALTH_TIMEOUT = 1.0  # CoreDNS's health checker: 1 s read and write timeouts
MAX_UDP_REPLY = 65535


class UpstreamError(Exception):
    """The upstream did not answer: refused, reset, timed out."""


class CachedClosed(UpstreamError):
    """A pooled TCP connection was closed by the peer: retry on a fresh one."""


@dataclass(frozen=True, slots=True)
class UpstreamOptions:
    """What every upstream of one forward shares; the values come from ``ForwardConfig``."""

    expire: float
    read_timeout: float
    health_check: float
    hc_recursion_desired: bool
    hc_domain: str
    hc_tcp: bool
    tls: ssl.SSLContext | None
    tls_servername: str
    source_address: str
    max_age: float
    max_idle_conns: int


def same_question(reply: bytes, question: bytes) -> bool:
    """Does ``reply`` carry ``question`` (name compared case-insensitively)?"""
    end = 12 + len(question)
    if len(reply) < end or reply[4:6] != b"\x00\x01":
        return False
    return (
        reply[12 : end - 4].lower() == question[:-4].lower()
        and reply[end - 4 : end] == question[-4:]
    )


class _UDPConnection(asyncio.DatagramProtocol):
    """A connected UDP socket; it accepts only a datagram with the ID and question it waits for."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.waiter: asyncio.Future[bytes] | None = None
        self.expect: tuple[bytes, bytes] = (b"", b"")
        self.used = self.created = time.monotonic()
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: object) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        qid, question = self.expect
        # Guard against spoofing and late answers: the ID and the question must match.
        if (
            data[:2] != qid
            or len(data) < 12
            or not data[2] & 0x80
            or not same_question(data, question)
        ):
            if log.isEnabledFor(logging.DEBUG):  # the *debug* plugin
                log.debug(
                    "[DEBUG] plugin/forward: dropped a reply that is not for our query:\n%s",
                    "\n".join(hexdump(data)),
                )
            return
        waiter.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(UpstreamError(str(exc) or type(exc).__name__))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(UpstreamError("socket closed"))

    async def exchange(self, wire: bytes, question: bytes, timeout: float) -> bytes:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.expect = (wire[:2], question)
        self.transport.sendto(wire)
        try:
            return await asyncio.wait_for(self.waiter, timeout)
        except TimeoutError as exc:
            raise UpstreamError("i/o timeout") from exc
        finally:
            self.waiter = None

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class _StreamConnection:
    """A TCP or TLS connection: two-byte length framing (RFC 1035 4.2.2)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.used = self.created = time.monotonic()

    @property
    def closed(self) -> bool:
        return self.writer.is_closing() or self.reader.at_eof()

    async def exchange(self, wire: bytes, question: bytes, timeout: float) -> bytes:
        self.writer.write(struct.pack(">H", len(wire)) + wire)
        try:
            async with asyncio.timeout(timeout):
                await self.writer.drain()
                while True:
                    length = struct.unpack(">H", await self.reader.readexactly(2))[0]
                    data = await self.reader.readexactly(length)
                    if data[:2] == wire[:2]:  # drop out-of-order replies, as CoreDNS
                        return data
        except asyncio.IncompleteReadError as exc:
            raise CachedClosed("connection closed by upstream") from exc
        except TimeoutError as exc:
            raise UpstreamError("i/o timeout") from exc
        except OSError as exc:
            raise CachedClosed(str(exc)) from exc

    def close(self) -> None:
        self.writer.close()


Connection = _UDPConnection | _StreamConnection


class Upstream:
    """One TO address with its pools and health state."""

    def __init__(self, address: UpstreamAddress, options: UpstreamOptions) -> None:
        self.address = address
        self.label = address.label
        self.options = options
        self.fails = 0
        self.idle: dict[str, deque[Connection]] = {
            "udp": deque(),
            "tcp": deque(),
            "tcp-tls": deque(),
        }
        self.probe: asyncio.Task[None] | None = None
        self.stopped = False
        self._durations: dict[str, object] = {}

    def down(self, max_fails: int) -> bool:
        """CoreDNS: down when there are *more* fails than max_fails; max_fails 0 never marks down."""
        return max_fails != 0 and self.fails > max_fails

    async def exchange(self, wire: bytes, question: bytes, proto: str) -> bytes:
        """Send ``wire`` (ID already ours) over ``proto`` and return the reply bytes."""
        start = time.perf_counter()
        if self.options.tls is not None:
            proto = "tcp-tls"
        while True:
            connection, cached = await self._dial(proto)
            try:
                reply = await connection.exchange(wire, question, self.options.read_timeout)
            except CachedClosed:
                connection.close()
                if cached:
                    continue  # the pooled connection went stale: dial a fresh one
                raise
            except BaseException:
                connection.close()
                raise
            break
        self._yield(proto, connection)
        self._observe(reply, time.perf_counter() - start)
        return reply

    def _observe(self, reply: bytes, seconds: float) -> None:
        rcode = rcode_label(reply[3] & 0xF)
        child = self._durations.get(rcode)
        if child is None:
            child = self._durations[rcode] = metrics.REQUEST_DURATION.labels(
                metrics.PROXY_NAME, self.label, rcode
            )
        child.observe(seconds)  # type: ignore[attr-defined]

    async def _dial(self, proto: str) -> tuple[Connection, bool]:
        pool = self.idle[proto]
        now = time.monotonic()
        while pool:
            connection = pool.popleft()  # oldest first, for source port diversity
            max_age = self.options.max_age
            if (
                connection.closed
                or now - connection.used > self.options.expire
                or (max_age > 0 and now - connection.created > max_age)
            ):
                connection.close()
                continue
            metrics.CONN_CACHE_HITS.labels(metrics.PROXY_NAME, self.label, proto).inc()
            return connection, True
        metrics.CONN_CACHE_MISSES.labels(metrics.PROXY_NAME, self.label, proto).inc()
        return await self._connect(proto, self.options.read_timeout), False

    async def _connect(self, proto: str, timeout: float) -> Connection:
        host, port = self.address.host, self.address.port
        loop = asyncio.get_running_loop()
        local = (self.options.source_address, 0) if self.options.source_address else None
        try:
            async with asyncio.timeout(timeout):
                if proto == "udp":
                    _, protocol = await loop.create_datagram_endpoint(
                        _UDPConnection, remote_addr=(host, port), local_addr=local
                    )
                    return protocol
                tls = self.options.tls if proto == "tcp-tls" else None
                server_hostname = (self.options.tls_servername or host) if tls else None
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=tls, server_hostname=server_hostname, local_addr=local
                )
                return _StreamConnection(reader, writer)
        except TimeoutError as exc:
            raise UpstreamError(f"dial {proto} {self.label}: i/o timeout") from exc
        except (OSError, ssl.SSLError) as exc:
            raise UpstreamError(f"dial {proto} {self.label}: {exc}") from exc

    def _yield(self, proto: str, connection: Connection) -> None:
        connection.used = time.monotonic()
        pool = self.idle[proto]
        limit = self.options.max_idle_conns
        if self.stopped or connection.closed or (limit > 0 and len(pool) >= limit):
            connection.close()
            return
        pool.append(connection)

    # -- health ------------------------------------------------------------

    def healthcheck(self) -> None:
        """Start probing unless a probe already runs (at most one check in flight)."""
        if self.probe is None and not self.stopped:
            self.probe = asyncio.ensure_future(self._probe())

    async def _probe(self) -> None:
        try:
            while not self.stopped:
                if await self.check():
                    self.fails = 0
                    return
                metrics.HEALTHCHECK_FAILURES.labels(metrics.PROXY_NAME, self.label).inc()
                self.fails += 1
                await asyncio.sleep(self.options.health_check)
        finally:
            self.probe = None

    async def check(self) -> bool:
        """Send ``<domain> IN NS`` on a fresh connection: any reply with a header is healthy."""
        flags = 0x0100 if self.options.hc_recursion_desired else 0
        qid = secrets.token_bytes(2)
        question = text_to_wire(self.options.hc_domain) + struct.pack(">HH", TYPE_NS, 1)
        ping = qid + struct.pack(">HHHHH", flags, 1, 0, 0, 0) + question
        proto = "tcp-tls" if self.options.tls else ("tcp" if self.options.hc_tcp else "udp")
        connection: Connection | None = None
        try:
            connection = await self._connect(proto, HEALTH_TIMEOUT)
            reply = await connection.exchange(ping, question, HEALTH_TIMEOUT)
        except (UpstreamError, OSError) as exc:
            log.debug("health check of %s failed: %s", self.label, exc)
            return False
        finally:
            if connection is not None:
                connection.close()
        return bool(reply[2] << 8 & QR)

    async def close(self) -> None:
        self.stopped = True
        await cancel_and_wait(self.probe)
        for pool in self.idle.values():
            while pool:
                pool.popleft().close()
