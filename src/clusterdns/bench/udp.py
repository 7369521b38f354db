"""Queries over UDP for ``pacing.drive``: a few connected sockets, one datagram per query."""

from __future__ import annotations

import contextlib
import select
import socket
import time
from collections.abc import Callable

from clusterdns.bench.pacing import Flight, Tally
from clusterdns.bench.plan import LoadPlan
from clusterdns.bench.stats import SUB_BITS

_SUB_HALF = SUB_BITS - 1


def _open_udp(server: tuple[str, int]) -> socket.socket:
    family = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.connect(server)
    sock.setblocking(False)
    return sock


class UdpLink:
    """The UDP side of a load run: sockets sent to in turn, replies read as they come."""

    id_offset = 0

    def __init__(self, plan: LoadPlan, flight: Flight, tally: Tally) -> None:
        self.flight = flight
        self.tally = tally
        self.wires = [bytearray(t.wire) for t in plan.templates]
        self.questions = [t.question for t in plan.templates]
        self.socks = [_open_udp(plan.server) for _ in range(plan.socket_count)]
        self.poller = select.epoll()
        self.receivers = {}
        for sock in self.socks:
            self.poller.register(sock.fileno(), select.EPOLLIN)
            self.receivers[sock.fileno()] = sock.recv
        self.senders: list[Callable[[bytearray], object]] = [sock.send for sock in self.socks]

    def receive(self, wait: float) -> None:  # the hot path, inlined on purpose
        events = self.poller.poll(wait)
        if not events:
            return
        # Every reply is counted on locals (stats.bucket_index inlined): the tally is read once
        # per poll and written back after, which keeps a reply within its few microseconds.
        tally = self.tally
        inflight = self.flight.sent_at
        template_of = self.flight.template_of
        questions = self.questions
        counts = tally.stats.latency.counts
        rcodes = tally.stats.rcodes
        limit_ns = tally.limit_ns
        clock = time.perf_counter_ns
        mismatched, truncated, errors, over = (
            tally.mismatched,
            tally.truncated,
            tally.errors,
            tally.over,
        )
        bytes_in, lat_min, lat_sumsq, last_done = (
            tally.bytes_in,
            tally.lat_min,
            tally.lat_sumsq,
            tally.last_done,
        )
        iv_done, iv_sum, iv_max = tally.iv_done, tally.iv_sum, tally.iv_max
        for fd, _ in events:
            recv = self.receivers[fd]
            while True:
                try:
                    data = recv(65535)
                except BlockingIOError:
                    break
                except OSError:
                    errors += 1
                    break
                arrived = clock()
                if len(data) < 12 or not data[2] & 0x80:
                    mismatched += 1
                    continue
                rid = data[0] << 8 | data[1]
                asked = inflight.get(rid)
                if asked is None:
                    mismatched += 1
                    continue
                question = questions[template_of[rid]]
                if data[12 : 12 + len(question)] != question:
                    mismatched += 1
                    continue
                del inflight[rid]
                lat = arrived - asked
                bits = lat.bit_length()
                if bits <= SUB_BITS:
                    counts[lat] += 1
                else:
                    shift = bits - SUB_BITS
                    counts[(shift << _SUB_HALF) + (lat >> shift)] += 1
                if lat < lat_min:
                    lat_min = lat
                if lat > iv_max:
                    iv_max = lat
                iv_sum += lat
                lat_sumsq += lat * lat
                if lat >= limit_ns:
                    over += 1
                rcodes[data[3] & 0x0F] += 1
                if data[2] & 0x02:
                    truncated += 1
                bytes_in += len(data)
                iv_done += 1
                last_done = arrived
        tally.mismatched, tally.truncated, tally.errors, tally.over = (
            mismatched,
            truncated,
            errors,
            over,
        )
        tally.bytes_in, tally.lat_min, tally.lat_sumsq, tally.last_done = (
            bytes_in,
            lat_min,
            lat_sumsq,
            last_done,
        )
        tally.iv_done, tally.iv_sum, tally.iv_max = iv_done, iv_sum, iv_max

    def close(self) -> None:
        self.poller.close()
        for sock in self.socks:
            sock.close()
