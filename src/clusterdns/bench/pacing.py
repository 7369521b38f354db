"""The loop every load run shares, whatever carries the queries: pacing, timeouts, draining.

``drive`` sends as many queries as the concurrency, ``-n`` and ``--qps`` allow, lets the
link take the replies, expires queries older than the timeout on every tick, and once
sending stops (``-d`` passed or ``-n`` sent) drains what is in flight for at most one
timeout.  A ``Link`` (``udp.UdpLink``, ``tcp.TcpLink``) puts a query on the wire and
matches replies; the ``Flight`` is the book both sides keep, and the ``Tally`` what the
replies counted.

Why not asyncio tasks: at 50k+ queries/s a task, a future and a callback per query cost
more than the whole budget of ~15 us.  Here each query is one ``send`` of a pre-built
template whose ID is patched in place, one ``recv``, a dict lookup by ID and a few
integer operations.

IDs are unique across the sockets of one worker (one ID space of 65536, IDs still in
flight are skipped), so a reply is matched by ID and checked against the question it
answers.  In-flight queries live in a dict in send order, so timeouts are found by
walking it from the front.
"""

from __future__ import annotations

import random
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from clusterdns.bench.plan import LoadPlan, ProgressFn
from clusterdns.bench.stats import MAX_VALUE, RunStats, bucket_index

ID_SPACE = 65536
FOREVER_NS = 1 << 62


@dataclass(slots=True)
class Flight:
    """The queries in flight (send time by ID, in send order; the template each ID carries),
    and where the next query comes from: the next free ID, template and socket."""

    sent_at: dict[int, int] = field(default_factory=dict)
    template_of: list[int] = field(default_factory=lambda: [0] * ID_SPACE)
    last_id: int = field(default_factory=lambda: random.randrange(ID_SPACE))
    next_template: int = 0
    next_turn: int = 0
    sent: int = 0
    bytes_out: int = 0

    def send(self, room: int, link: Link) -> None:
        """Send up to ``room`` queries over ``link``: templates in turn, sockets in turn."""
        inflight, template_of = self.sent_at, self.template_of
        wires, offset, senders = link.wires, link.id_offset, link.senders
        nqueries, turns = len(wires), len(senders)
        clock, pack_into = time.perf_counter_ns, struct.pack_into
        qid, qi, turn = self.last_id, self.next_template, self.next_turn
        sent = bytes_out = 0
        while room > 0:
            qid = (qid + 1) & 0xFFFF
            if qid in inflight:
                continue
            wire = wires[qi]
            pack_into("!H", wire, offset, qid)
            try:
                senders[turn](wire)
            except OSError:
                # A full socket buffer or an ICMP error queued on the socket: stop this burst.
                link.tally.errors += 1
                break
            inflight[qid] = clock()
            template_of[qid] = qi
            bytes_out += len(wire) - offset
            sent += 1
            room -= 1
            qi += 1
            if qi == nqueries:
                qi = 0
            turn += 1
            if turn == turns:
                turn = 0
        self.last_id, self.next_template, self.next_turn = qid, qi, turn
        self.sent += sent
        self.bytes_out += bytes_out


@dataclass(slots=True)
class Tally:
    """What the replies counted: run totals, and the part of the current interval not yet
    flushed to the timeline (completed, latency sum and max are totalled at each flush)."""

    stats: RunStats
    limit_ns: int = FOREVER_NS  # latencies at or above this count as over the limit
    completed: int = 0
    mismatched: int = 0
    truncated: int = 0
    errors: int = 0
    over: int = 0
    bytes_in: int = 0
    lat_min: int = MAX_VALUE
    lat_max: int = 0
    lat_sum: int = 0
    lat_sumsq: int = 0
    iv_done: int = 0
    iv_sum: int = 0
    iv_max: int = 0
    last_done: int = 0

    def add(self, lat: int, reply: bytes, arrived: int) -> None:
        """Count one answered query (the slow path: ``UdpLink.receive`` inlines these steps)."""
        self.stats.latency.counts[bucket_index(lat)] += 1
        self.stats.rcodes[reply[3] & 0x0F] += 1
        self.lat_min = min(self.lat_min, lat)
        self.iv_max = max(self.iv_max, lat)
        self.iv_sum += lat
        self.lat_sumsq += lat * lat
        self.iv_done += 1
        if lat >= self.limit_ns:
            self.over += 1
        if reply[2] & 0x02:
            self.truncated += 1
        self.bytes_in += len(reply)
        self.last_done = arrived

    def flush(self, interval: int) -> None:
        """Move the replies counted since the last flush into timeline interval ``interval``."""
        if not self.iv_done:
            return
        part = self.stats.interval(interval)
        part.completed += self.iv_done
        part.latency_sum += self.iv_sum
        part.latency_max = max(part.latency_max, self.iv_max)
        self.completed += self.iv_done
        self.lat_sum += self.iv_sum
        self.lat_max = max(self.lat_max, self.iv_max)
        self.iv_done = self.iv_sum = self.iv_max = 0

    def finish(self) -> None:
        """Write the totals into the run's statistics (after the last flush)."""
        stats = self.stats
        stats.completed = self.completed
        stats.mismatched, stats.truncated, stats.socket_errors = (
            self.mismatched,
            self.truncated,
            self.errors,
        )
        stats.over_limit, stats.bytes_received = self.over, self.bytes_in
        stats.latency.total = 0
        stats.latency.add_moments(
            total=self.completed,
            minimum=self.lat_min,
            maximum=self.lat_max,
            total_sum=self.lat_sum,
            sumsq=self.lat_sumsq,
        )


class Link(Protocol):
    """A transport's side of the loop: its wires, how to send one, how to take replies."""

    wires: list[bytearray]  # one per template, ready to send but for the ID
    id_offset: int  # where the DNS message starts in a wire (2 after TCP's length prefix)
    # One per socket (connection), taken in turn: sends a wire, or raises OSError when it
    # could not go (counted; the burst stops).  UDP's are its sockets' own ``send``: no
    # Python call per query.
    senders: list[Callable[[bytearray], object]]
    tally: Tally

    def receive(self, wait: float) -> None:
        """Wait at most ``wait`` seconds for replies, match them, count them in the tally."""
        ...

    def close(self) -> None: ...


class LinkDown(Exception):
    """The link cannot go on (a TCP reconnect failed); ``error`` is re-raised as it was."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


def wait_for_start(plan: LoadPlan) -> int:
    """The run's time zero: the common start of the workers, or now."""
    if plan.start_ns:
        delay = plan.start_ns - time.perf_counter_ns()
        if delay > 0:
            time.sleep(delay / 1e9)
        return plan.start_ns
    return time.perf_counter_ns()


def drive(
    plan: LoadPlan, link: Link, flight: Flight, progress: ProgressFn | None = None
) -> RunStats:
    """Run the plan's load over ``link`` until sent and drained; the link is closed after."""
    tally = link.tally
    stats = tally.stats
    clock = time.perf_counter_ns
    inflight = flight.sent_at
    concurrency = min(plan.concurrency, ID_SPACE - 1)
    count, qps = plan.count, plan.qps
    timeout_ns = int(plan.timeout * 1e9)
    interval_ns = stats.interval_ns
    tick_ns = max(1_000_000, min(interval_ns, timeout_ns // 10))
    timeouts = 0

    t0 = wait_for_start(plan)
    stop_at = t0 + int(plan.duration * 1e9) if plan.duration > 0 else FOREVER_NS
    next_tick = t0 + tick_ns
    next_report = t0 + interval_ns
    tally.last_done = t0
    sending = True
    send_end = drain_until = 0
    try:
        while True:
            now = clock()
            wait = (next_tick - now) / 1e9
            if sending and (now >= stop_at or (count and flight.sent >= count)):
                sending = False
                send_end = now
                drain_until = now + timeout_ns
            if sending:
                room = concurrency - len(inflight)
                if count and count - flight.sent < room:
                    room = count - flight.sent
                if qps:
                    allowed = int((now - t0) * qps / 1e9) + 1 - flight.sent
                    if allowed < room:
                        room = allowed
                        wait = min(wait, 1 / qps)
                if room > 0:
                    flight.send(room, link)
            if not sending and (not inflight or now >= drain_until):
                break
            if now >= next_tick:
                expired = _expire(inflight, now - timeout_ns)
                interval = (now - t0) // interval_ns
                if expired:
                    timeouts += expired
                    stats.interval(interval).timeouts += expired
                tally.flush(interval)
                next_tick = now + tick_ns
                if progress is not None and now >= next_report:
                    progress(flight.sent, tally.completed + timeouts)
                    next_report = now + interval_ns
                continue
            link.receive(max(wait, 0.0))
    finally:
        end = clock()
        link.close()
    tally.flush((end - t0) // interval_ns)
    tally.finish()
    stats.sent = stats.packets = flight.sent
    stats.bytes_sent = flight.bytes_out
    stats.timeouts = timeouts + len(inflight)  # never answered before the drain deadline: lost
    stats.elapsed_ns = max(tally.last_done, send_end if not sending else end) - t0
    if progress is not None:
        progress(flight.sent, stats.completed + stats.timeouts)
    return stats


def _expire(inflight: dict[int, int], cutoff: int) -> int:
    expired = []
    for old_id, sent_at in inflight.items():
        if sent_at > cutoff:
            break
        expired.append(old_id)
    for old_id in expired:
        del inflight[old_id]
    return len(expired)
