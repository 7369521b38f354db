"""The dnstap plugin: every query and reply of its block, and forward's exchanges, to a collector.

Taps cost the query path a tuple or two appended to a bounded deque: the
server calls ``tap_query``/``tap_reply``, or ``tap_hit`` for a memo hit, and
``forward`` calls ``tap_forwarder``.  Encoding (``tap.message.Encoder``) and
writing happen in the output's task, in batches of what arrived since its
last pass.  When the deque is full (CoreDNS: 10 000 x queue messages)
a new message is dropped and counted, never waited for; when the collector is
away the output reconnects with backoff while queries go on at full speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections import deque

from prometheus_client import Counter

from clusterdns.dnstap import framestream
from clusterdns.dnstap.framestream import ACCEPT, CONTENT_TYPE, FINISH, READY, START, STOP
from clusterdns.dnstap.message import (
    CLIENT_QUERY,
    CLIENT_RESPONSE,
    FORWARDER_QUERY,
    FORWARDER_RESPONSE,
    Encoder,
)
from clusterdns.plugins.dnstap.frames import EXCHANGE, Facts, FrameWriter
from clusterdns.plugins.dnstap.options import DnstapConfig
from clusterdns.plugins.plugin import Hit, Host, Plugin, Seen
from clusterdns.tasks import finish

log = logging.getLogger("clusterdns.plugins.dnstap")

DROPPED = Counter(
    "clusterdns_dnstap_dropped_total",
    "dnstap messages dropped: the queue was full or the collector went away.",
    ["to"],
)
SENT = Counter("clusterdns_dnstap_sent_total", "dnstap messages written to the collector.", ["to"])

TIMEOUT = 4.0  # CoreDNS's tcpTimeout: dial, handshake and each write
BACKOFF_FIRST = 0.1
BACKOFF_MAX = 2.0
IDLE_POLL = 0.005  # how often an idle output looks at its queue
REPORT_EVERY = 10.0  # CoreDNS logs "Dropped dnstap messages: N" every 10 s

# Queue items: (kind, facts) with kind a dnstap message type or EXCHANGE (frames.py).
Item = tuple[int, Facts]


class Output:
    """One collector: a bounded queue and the task that drains it to the socket."""

    def __init__(self, config: DnstapConfig) -> None:
        self.config = config
        self.label = str(config.endpoint)
        self.queue: deque[Item] = deque()
        self.capacity = config.capacity
        self.dropped = 0  # since the last report
        self.dropped_total = 0
        self.sent = 0
        self.connected = False
        self.connects = 0
        self.task: asyncio.Task[None] | None = None
        self.closing = False
        self.held = 0  # messages in the queue (an EXCHANGE item holds two)
        self._dropped_metric = DROPPED.labels(self.label)
        self._sent_metric = SENT.labels(self.label)
        self._failing_since: float | None = None
        self.writer = FrameWriter(
            Encoder(config.identity, config.version, config.extra), config.full, 0
        )
        #: drain the writer only above this many buffered bytes (the send buffer's size)
        self.high_water = config.write_buffer << 20

    def put(self, item: Item) -> None:
        if self.held < self.capacity:
            self.queue.append(item)
            self.held += 1
        else:
            self._drop(1)

    def put_exchange(self, exchange: Facts) -> None:
        """A memo hit's query and reply: two messages, one item."""
        if self.held < self.capacity - 1:
            self.queue.append((EXCHANGE, exchange))
            self.held += 2
        else:
            self._drop(2)

    def _drop(self, count: int) -> None:
        self.dropped += count
        self.dropped_total += count
        self._dropped_metric.inc(count)

    # -- the task --------------------------------------------------------------

    def start(self, server_port: int) -> None:
        self.writer.server_port = server_port
        self.task = asyncio.ensure_future(self.run())

    async def stop(self) -> None:
        self.closing = True
        await finish(self.task, TIMEOUT)

    async def run(self) -> None:
        delay = BACKOFF_FIRST
        last_report = time.monotonic()
        while not self.closing:
            try:
                reader, writer = await asyncio.wait_for(self._connect(), TIMEOUT)
            except (OSError, TimeoutError, ssl.SSLError, framestream.FrameError) as exc:
                self._connect_failed(exc)
                last_report = self._report(last_report)
                await self._sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)
                continue
            delay = BACKOFF_FIRST
            self.connected = True
            self.connects += 1
            if self._failing_since is not None:
                log.info("[INFO] plugin/dnstap: connected to %s", self.label)
                self._failing_since = None
            eof = asyncio.ensure_future(reader.read(1))
            try:
                last_report = await self._pump(writer, eof, last_report)
                if self.closing:
                    await self._finish(reader, writer, eof)
            except (OSError, TimeoutError) as exc:
                log.warning("[WARNING] plugin/dnstap: %s: %s; reconnecting", self.label, exc)
            finally:
                self.connected = False
                eof.cancel()
                writer.close()

    async def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self.closing and time.monotonic() < end:
            await asyncio.sleep(min(0.05, seconds))

    def _connect_failed(self, exc: BaseException) -> None:
        if self._failing_since is None:
            self._failing_since = time.monotonic()
            log.warning(
                "[WARNING] plugin/dnstap: cannot connect to %s: %s (retrying)", self.label, exc
            )

    def _report(self, last: float) -> float:
        now = time.monotonic()
        if now - last < REPORT_EVERY:
            return last
        self._flush_drop_count()
        return now

    def _flush_drop_count(self) -> None:
        if self.dropped:
            log.warning("[WARNING] plugin/dnstap: Dropped dnstap messages: %d", self.dropped)
            self.dropped = 0

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        endpoint = self.config.endpoint
        if endpoint.proto == "unix":
            reader, writer = await asyncio.open_unix_connection(endpoint.path)
        else:
            context = None
            if endpoint.proto == "tls":
                context = ssl.create_default_context()
                if self.config.skip_verify:
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
            reader, writer = await asyncio.open_connection(
                endpoint.host, endpoint.port, ssl=context
            )
            sock = writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(
                        socket.SOL_SOCKET, socket.SO_SNDBUF, self.config.write_buffer << 20
                    )
        try:
            writer.write(framestream.control(READY, [CONTENT_TYPE]))
            frame = await _read_control(reader)
            if frame.type != ACCEPT or CONTENT_TYPE not in frame.content_types:
                raise framestream.FrameError(frame.offset, f"collector answered {frame.name}")
            writer.write(framestream.control(START, [CONTENT_TYPE]))
            await writer.drain()
        except BaseException:
            writer.close()
            raise
        return reader, writer

    async def _pump(
        self, writer: asyncio.StreamWriter, eof: asyncio.Future[bytes], last_report: float
    ) -> float:
        """Write what the queue holds, in large batches, until the collector goes away.

        Each pass takes what the queue holds and sleeps IDLE_POLL, so under load
        each write carries what arrived meanwhile (hundreds of messages, at most
        the queue's bound) and its cost is shared; the writer is drained only
        when the socket pushes back.
        """
        transport = writer.transport
        while True:
            if eof.done():
                raise ConnectionResetError("collector closed the connection")
            if self.queue:
                # take the whole queue at once: the taps append to the fresh one
                items, self.queue = self.queue, deque()
                count, self.held = self.held, 0
                writer.write(self.writer.frames(items))
                if transport.get_write_buffer_size() > self.high_water:
                    try:
                        await asyncio.wait_for(writer.drain(), TIMEOUT)
                    except BaseException:
                        self._drop(count)  # unsure whether they got out: count them lost
                        raise
                self.sent += count
                self._sent_metric.inc(count)
            elif self.closing:
                return last_report
            last_report = self._report(last_report)
            await asyncio.sleep(IDLE_POLL)

    async def _finish(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, eof: asyncio.Future[bytes]
    ) -> None:
        """STOP, then wait briefly for the collector's FINISH (bidirectional fstrm)."""
        eof.cancel()
        writer.write(framestream.control(STOP))
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.drain(), 1.0)
            frame = await asyncio.wait_for(_read_control(reader), 1.0)
            if frame.type != FINISH:
                log.debug("dnstap: collector answered STOP with %s", frame.name)
        self._flush_drop_count()


async def _read_control(reader: asyncio.StreamReader) -> framestream.Control:
    header = await reader.readexactly(8)
    if header[:4] != b"\x00\x00\x00\x00":
        raise framestream.FrameError(0, "expected a control frame from the collector")
    length = int.from_bytes(header[4:], "big")
    if length > framestream.MAX_CONTROL_LENGTH:
        raise framestream.FrameError(4, f"control frame of {length} bytes")
    return framestream.parse_control(await reader.readexactly(length), 0)


class Dnstap(Plugin):
    name = "dnstap"
    replies_outlive_reload = True
    handles_queries = False  # it sees queries through the server's taps, memo hits included
    taps_queries = True

    def __init__(self, host: Host, port: int, listen: tuple[str, ...] = ()) -> None:
        self.host = host
        self.port = port
        self.listen = listen
        self.outputs: list[Output] = []

    def add(self, config: DnstapConfig) -> None:
        self.outputs.append(Output(config))

    async def start(self) -> None:
        server_port = self.host.bound_port(self.listen[0] if self.listen else "", self.port)
        for output in self.outputs:
            output.start(server_port)

    async def stop(self) -> None:
        await asyncio.gather(*(output.stop() for output in self.outputs))

    # -- taps (the query path: keep them to a tuple and an append) ----------------

    def tap_query(self, seen: Seen) -> None:
        facts = (seen.data, None, seen.client, seen.transport, seen.local, seen.received, None)
        for output in self.outputs:
            output.put((CLIENT_QUERY, facts))

    def tap_reply(self, seen: Seen, wire: bytes, rcode: int) -> None:
        facts = (
            seen.data,
            wire,
            seen.client,
            seen.transport,
            seen.local,
            seen.received,
            time.perf_counter(),
        )
        for output in self.outputs:
            output.put((CLIENT_RESPONSE, facts))

    def tap_hit(self, hit: Hit, server: str, zone: str) -> None:
        for output in self.outputs:
            output.put_exchange(hit)  # a Hit has the shape of an exchange's facts

    def tap_forwarder(
        self,
        query: bytes,
        reply: bytes | None,
        upstream: tuple[str, int],
        proto: str,
        started: float,
    ) -> None:
        """forward's exchange with ``upstream``: FORWARDER_QUERY, and FORWARDER_RESPONSE if it answered.

        As CoreDNS's plugin/forward/dnstap.go, both carry the time the query
        was sent; the response also the time it came back.
        """
        facts = (query, reply, upstream, proto, started, time.perf_counter())
        for output in self.outputs:
            output.put((FORWARDER_QUERY, facts))
            if reply is not None:
                output.put((FORWARDER_RESPONSE, facts))
