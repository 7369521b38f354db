"""``--resolver`` mode: lookups as an application's libc makes them, not raw queries.

A lookup walks the search list (see queries.search_candidates) and, for each
candidate, asks for A and AAAA the way glibc's stub does by default: both
queries back to back from one new UDP socket (one source port), then it waits
for both answers; when the per-try timeout passes with an answer missing, the
missing query is sent again from the same socket, up to ``attempts`` tries.
Options change the shape as resolv.conf options do: ``reopen``
(single-request-reopen: AAAA from a second socket), ``single_request``
(single-request: A, wait, then AAAA) and TCP (use-vc: both over one connection).

That shape is what trips the conntrack insert race: two packets of a new flow
with the same 5-tuple leave together, one is dropped, and the lookup waits a
whole timeout (5 s with glibc's default) before it tries again.

The search list comes from ``clusterdns.resolver.search`` (glibc's walk).  The
packet shapes are sent here rather than through ``clusterdns.resolver.transport``
because the load tester needs them concurrent and counted per try.

Performance is not the point here (each lookup opens a socket, as libc does),
so this runs on asyncio with one coroutine per concurrency slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import dns.message
import dns.rdatatype

from clusterdns.bench.plan import LoadPlan, ProgressFn, StubPlan
from clusterdns.bench.queries import search_candidates
from clusterdns.bench.stats import RunStats

RCODE_NXDOMAIN = 3
RCODE_NOERROR = 0
_A = int(dns.rdatatype.A)
_AAAA = int(dns.rdatatype.AAAA)


@dataclass(frozen=True, slots=True)
class Reply:
    rcode: int
    answers: int
    size: int


@dataclass(frozen=True, slots=True)
class LookupResult:
    """The outcome of one application lookup: final rcode (None if every try timed out)."""

    rcode: int | None
    retries: int
    packets: int


def _query_wire(name: str, rdtype: int) -> tuple[bytearray, bytes]:
    wire = dns.message.make_query(name, dns.rdatatype.RdataType.make(rdtype)).to_wire()
    return bytearray(wire), wire[12:]


class _Exchanger:
    """Sends one candidate's A and AAAA queries with glibc-like timing; counts tries and packets."""

    def __init__(self, plan: LoadPlan, stub: StubPlan) -> None:
        self.server = plan.server
        self.timeout = plan.timeout
        self.stub = stub
        self.family = socket.AF_INET6 if ":" in plan.server[0] else socket.AF_INET
        self.tcp = plan.tcp
        self._wires: dict[tuple[str, int], tuple[bytearray, bytes]] = {}

    def wire(self, name: str, rdtype: int) -> tuple[bytes, int, bytes]:
        """A fresh copy of the query with a random ID: (wire, id, question)."""
        cached = self._wires.get((name, rdtype))
        if cached is None:
            cached = self._wires[(name, rdtype)] = _query_wire(name, rdtype)
        template, question = cached
        qid = random.getrandbits(16)
        struct.pack_into("!H", template, 0, qid)
        return bytes(template), qid, question

    async def exchange(self, name: str) -> tuple[dict[int, Reply], int, int]:
        """Ask A and AAAA for ``name``: (replies by type, retries, packets sent)."""
        if self.tcp:
            return await self._over_tcp(name)
        if self.stub.reopen:
            parts = await asyncio.gather(
                self._over_udp(name, (_A,)), self._over_udp(name, (_AAAA,))
            )
            replies = parts[0][0] | parts[1][0]
            return replies, max(parts[0][1], parts[1][1]), parts[0][2] + parts[1][2]
        if self.stub.single_request:
            return await self._over_udp(name, (_A,), (_AAAA,))
        return await self._over_udp(name, (_A, _AAAA))

    async def _over_udp(
        self, name: str, *rounds: tuple[int, ...]
    ) -> tuple[dict[int, Reply], int, int]:
        """One socket; each round's queries go back to back, the next round waits for them."""
        loop = asyncio.get_running_loop()
        sock = socket.socket(self.family, socket.SOCK_DGRAM)
        sock.setblocking(False)
        replies: dict[int, Reply] = {}
        retries = packets = 0
        try:
            sock.connect(self.server)
            for types in rounds:
                tries, sent = await self._round(
                    loop=loop, sock=sock, name=name, types=types, replies=replies
                )
                retries += tries
                packets += sent
        finally:
            sock.close()
        return replies, retries, packets

    async def _round(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        name: str,
        types: tuple[int, ...],
        replies: dict[int, Reply],
    ) -> tuple[int, int]:
        """Send the missing queries of ``types``, wait for them, retry after a timeout."""
        retries = packets = 0
        for _ in range(max(1, self.stub.attempts)):
            pending: dict[int, tuple[int, bytes]] = {}
            wires = []
            for rdtype in types:
                if rdtype not in replies:
                    wire, qid, question = self.wire(name, rdtype)
                    pending[qid] = (rdtype, question)
                    wires.append(wire)
            # Built first, then sent back to back, as glibc's send_dg does with its two queries.
            for wire in wires:
                with contextlib.suppress(OSError):
                    sock.send(wire)
                    packets += 1
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.timeout):
                    while pending:
                        try:
                            data = await loop.sock_recv(sock, 65535)
                        except OSError:
                            # ICMP port unreachable: give up this try, as after a timeout.
                            await asyncio.sleep(self.timeout)
                            continue
                        _take_reply(data, pending, replies)
            if all(rdtype in replies for rdtype in types):
                break
            retries += 1
        return retries, packets

    async def _over_tcp(self, name: str) -> tuple[dict[int, Reply], int, int]:
        replies: dict[int, Reply] = {}
        retries = packets = 0
        for _ in range(max(1, self.stub.attempts)):
            pending: dict[int, tuple[int, bytes]] = {}
            writer = None
            try:
                async with asyncio.timeout(self.timeout):
                    reader, writer = await asyncio.open_connection(*self.server)
                    for rdtype in (_A, _AAAA):
                        if rdtype in replies:
                            continue
                        wire, qid, question = self.wire(name, rdtype)
                        pending[qid] = (rdtype, question)
                        writer.write(struct.pack("!H", len(wire)) + wire)
                        packets += 1
                    await writer.drain()
                    while pending:
                        size = struct.unpack("!H", await reader.readexactly(2))[0]
                        _take_reply(await reader.readexactly(size), pending, replies)
                return replies, retries, packets
            except (TimeoutError, OSError, asyncio.IncompleteReadError):
                retries += 1
            finally:
                if writer is not None:
                    writer.close()
        return replies, retries, packets


def _take_reply(
    data: bytes, pending: dict[int, tuple[int, bytes]], replies: dict[int, Reply]
) -> None:
    if len(data) < 12 or not data[2] & 0x80:
        return
    rid = data[0] << 8 | data[1]
    expected = pending.get(rid)
    if expected is None or data[12 : 12 + len(expected[1])] != expected[1]:
        return
    del pending[rid]
    replies[expected[0]] = Reply(
        rcode=data[3] & 0x0F, answers=data[6] << 8 | data[7], size=len(data)
    )


async def lookup(exchanger: _Exchanger, name: str, stub: StubPlan) -> LookupResult:
    """One getaddrinfo-like lookup over the search list."""
    retries = packets = 0
    final: int | None = RCODE_NXDOMAIN
    for candidate in search_candidates(name, stub.search, stub.ndots):
        replies, tries, sent = await exchanger.exchange(candidate)
        retries += tries
        packets += sent
        if not replies:
            return LookupResult(None, retries, packets)
        if any(r.answers for r in replies.values()):
            return LookupResult(RCODE_NOERROR, retries, packets)
        rcodes = {r.rcode for r in replies.values()}
        if rcodes - {RCODE_NOERROR, RCODE_NXDOMAIN}:
            # SERVFAIL, REFUSED...: report it rather than guess on with the next suffix.
            return LookupResult(max(rcodes - {RCODE_NOERROR, RCODE_NXDOMAIN}), retries, packets)
        final = RCODE_NOERROR if RCODE_NOERROR in rcodes else RCODE_NXDOMAIN
    return LookupResult(final, retries, packets)


class _Gate:
    """Hands out permission for each lookup: count, duration and rate limits."""

    def __init__(self, plan: LoadPlan, t0: int) -> None:
        self.plan = plan
        self.t0 = t0
        self.started = 0
        self.stop_at = t0 + int(plan.duration * 1e9) if plan.duration > 0 else 1 << 62

    async def take(self) -> bool:
        if self.plan.count and self.started >= self.plan.count:
            return False
        if time.perf_counter_ns() >= self.stop_at:
            return False
        index = self.started
        self.started += 1
        if self.plan.qps:
            due = self.t0 + int(index * 1e9 / self.plan.qps)
            delay = due - time.perf_counter_ns()
            if delay > 0:
                await asyncio.sleep(delay / 1e9)
        return time.perf_counter_ns() < self.stop_at


async def _run(plan: LoadPlan, progress: ProgressFn | None) -> RunStats:
    stub = plan.stub
    assert stub is not None
    stats = RunStats(
        mode="resolver-tcp" if plan.tcp else "resolver", interval_ns=int(plan.interval * 1e9)
    )
    exchanger = _Exchanger(plan, stub)
    limit_ns = int(plan.limit_ms * 1e6) if plan.limit_ms > 0 else 1 << 62
    t0 = plan.start_ns or time.perf_counter_ns()
    delay = t0 - time.perf_counter_ns()
    if delay > 0:
        await asyncio.sleep(delay / 1e9)
    gate = _Gate(plan, t0)
    names = stub.names
    next_name = 0

    async def slot() -> None:
        nonlocal next_name
        while await gate.take():
            name = names[next_name % len(names)]
            next_name += 1
            stats.sent += 1
            started = time.perf_counter_ns()
            result = await lookup(exchanger, name, stub)
            done = time.perf_counter_ns()
            _account(
                stats=stats,
                result=result,
                lat=done - started,
                limit_ns=limit_ns,
                interval=(done - t0) // stats.interval_ns,
            )

    async def report() -> None:
        while progress is not None:
            progress(stats.sent, stats.completed + stats.timeouts)
            await asyncio.sleep(plan.interval)

    reporter = asyncio.create_task(report())
    await asyncio.gather(*(slot() for _ in range(plan.concurrency)))
    reporter.cancel()
    stats.elapsed_ns = time.perf_counter_ns() - t0
    if progress is not None:
        progress(stats.sent, stats.completed + stats.timeouts)
    return stats


def _account(stats: RunStats, result: LookupResult, lat: int, limit_ns: int, interval: int) -> None:
    stats.try_timeouts += result.retries
    stats.packets += result.packets
    part = stats.interval(interval)
    if result.rcode is None:
        stats.timeouts += 1
        part.timeouts += 1
        return
    stats.completed += 1
    stats.rcodes[result.rcode] += 1
    stats.latency.record(lat)
    if lat >= limit_ns:
        stats.over_limit += 1
    part.completed += 1
    part.latency_sum += lat
    part.latency_max = max(part.latency_max, lat)


def run_stub(plan: LoadPlan, progress: ProgressFn | None = None) -> RunStats:
    """Run ``--resolver`` mode in this process (uvloop when it is installed)."""
    return _run_async(lambda: _run(plan, progress))


def _run_async(factory: Callable[[], Coroutine[Any, Any, RunStats]]) -> RunStats:
    loop_factory = None
    with contextlib.suppress(ImportError):
        import uvloop

        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(factory())
