"""The load generator: a tight epoll loop over non-blocking sockets, one process per worker.

Why not asyncio tasks: at 50k+ queries/s a task, a future and a callback per
query cost more than the whole budget of ~15 us.  Here each query is one
``send`` of a pre-built template whose ID is patched in place, one ``recv``,
a dict lookup by ID and a few integer operations; the statistics update is
inlined (see stats.bucket_index for the arithmetic it repeats).

IDs are unique across the sockets of one worker (one ID space of 65536, IDs
still in flight are skipped), so a response is matched by ID and checked
against the question it answers.  In-flight queries live in a dict in send
order, so timeouts are found by walking it from the front.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.sharedctypes
import random
import select
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from clusterdns.bench.queries import QueryTemplate
from clusterdns.bench.stats import MAX_VALUE, SUB_BITS, RunStats

ProgressFn = Callable[[int, int], None]
"""Called about every interval with (queries sent, queries answered or timed out) so far."""

_ID_SPACE = 65536
_SUB_HALF = SUB_BITS - 1


@dataclass(frozen=True, slots=True)
class StubPlan:
    """How ``--resolver`` mode looks names up, as an application's libc would."""

    names: tuple[str, ...]
    search: tuple[str, ...] = ()
    ndots: int = 1
    attempts: int = 2
    reopen: bool = False  # single-request-reopen: AAAA from a new socket (new source port)
    single_request: bool = False  # single-request: A, wait for it, then AAAA


@dataclass(frozen=True, slots=True)
class LoadPlan:
    """One load run: where, what, how hard, for how long."""

    server: tuple[str, int]
    templates: tuple[QueryTemplate, ...] = ()
    concurrency: int = 100
    duration: float = 10.0  # seconds of sending; 0 means until ``count``
    count: int = 0  # queries (lookups in resolver mode) at most; 0 means no limit
    qps: float = 0.0  # 0 means as fast as the concurrency allows
    timeout: float = 5.0
    limit_ms: float = 0.0  # latencies >= this are counted as over the limit; 0 disables
    tcp: bool = False
    sockets: int = 0  # 0 means min(concurrency, 4)
    interval: float = 0.1  # timeline resolution in seconds
    stub: StubPlan | None = None
    start_ns: int = field(default=0, compare=False)  # common start (perf_counter_ns) for workers

    def share(self, index: int, workers: int) -> LoadPlan:
        """This worker's part of the plan: concurrency, count and rate split as evenly as possible."""

        def split(total: int) -> int:
            return total // workers + (1 if index < total % workers else 0)

        return LoadPlan(
            server=self.server,
            templates=self.templates,
            concurrency=max(1, split(self.concurrency)),
            duration=self.duration,
            count=split(self.count) if self.count else 0,
            qps=self.qps / workers,
            timeout=self.timeout,
            limit_ms=self.limit_ms,
            tcp=self.tcp,
            sockets=self.sockets,
            interval=self.interval,
            stub=self.stub,
            start_ns=self.start_ns,
        )

    @property
    def socket_count(self) -> int:
        return max(1, min(self.sockets or 4, self.concurrency))


def run_plan(plan: LoadPlan, progress: ProgressFn | None = None) -> RunStats:
    """Run one worker's load in this process."""
    if plan.stub is not None:
        from clusterdns.bench.stub import run_stub

        return run_stub(plan, progress)
    if plan.tcp:
        return run_tcp(plan, progress)
    return run_udp(plan, progress)


def run_workers(plan: LoadPlan, workers: int, progress: ProgressFn | None = None) -> RunStats:
    """Spread the plan over ``workers`` processes and merge their statistics exactly."""
    if workers <= 1:
        return run_plan(plan, progress)
    ctx = multiprocessing.get_context("fork")
    board = ctx.Array("q", 2 * workers, lock=False)
    results: multiprocessing.queues.Queue[tuple[int, RunStats]] = ctx.Queue()
    # A common start a little ahead lets every worker's timeline line up.
    start = time.perf_counter_ns() + 200_000_000
    processes = [
        ctx.Process(
            target=_worker_main,
            args=(_with_start(plan.share(i, workers), start), i, board, results),
            daemon=True,
        )
        for i in range(workers)
    ]
    for process in processes:
        process.start()
    parts: dict[int, RunStats] = {}
    try:
        while len(parts) < workers:
            with contextlib.suppress(Exception):
                index, stats = results.get(timeout=plan.interval)
                parts[index] = stats
            if progress is not None:
                progress(sum(board[0::2]), sum(board[1::2]))
            if (
                len(parts) < workers
                and not any(p.is_alive() for p in processes)
                and results.empty()
            ):
                break
    finally:
        for process in processes:
            process.join(timeout=plan.timeout + 5)
    return RunStats.merged([parts[i] for i in sorted(parts)])


def _with_start(plan: LoadPlan, start_ns: int) -> LoadPlan:
    return LoadPlan(
        **{name: getattr(plan, name) for name in LoadPlan.__slots__} | {"start_ns": start_ns}
    )


def _worker_main(
    plan: LoadPlan,
    index: int,
    board: multiprocessing.sharedctypes.SynchronizedArray[int],
    results: multiprocessing.queues.Queue[tuple[int, RunStats]],
) -> None:
    def report(sent: int, done: int) -> None:
        board[2 * index] = sent
        board[2 * index + 1] = done

    stats = run_plan(plan, report)
    results.put((index, stats))


def _wait_for_start(plan: LoadPlan) -> int:
    if plan.start_ns:
        delay = plan.start_ns - time.perf_counter_ns()
        if delay > 0:
            time.sleep(delay / 1e9)
        return plan.start_ns
    return time.perf_counter_ns()


def _open_udp(server: tuple[str, int]) -> socket.socket:
    family = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.connect(server)
    sock.setblocking(False)
    return sock


def run_udp(plan: LoadPlan, progress: ProgressFn | None = None) -> RunStats:  # noqa: C901
    stats = RunStats(mode="udp", interval_ns=int(plan.interval * 1e9))
    socks = [_open_udp(plan.server) for _ in range(plan.socket_count)]
    poller = select.epoll()
    receivers = {}
    for sock in socks:
        poller.register(sock.fileno(), select.EPOLLIN)
        receivers[sock.fileno()] = sock.recv
    senders = [sock.send for sock in socks]
    wires = [bytearray(t.wire) for t in plan.templates]
    questions = [t.question for t in plan.templates]
    nqueries = len(wires)
    pack_into = struct.pack_into
    clock = time.perf_counter_ns

    counts = stats.latency.counts
    rcodes = stats.rcodes
    inflight: dict[int, int] = {}
    query_of = [0] * _ID_SPACE
    concurrency = min(plan.concurrency, _ID_SPACE - 1)
    timeout_ns = int(plan.timeout * 1e9)
    limit_ns = int(plan.limit_ms * 1e6) if plan.limit_ms > 0 else 1 << 62
    interval_ns = stats.interval_ns
    tick_ns = max(1_000_000, min(interval_ns, timeout_ns // 10))
    count = plan.count
    qps = plan.qps
    qid = random.randrange(_ID_SPACE)
    qi = 0
    turn = 0
    sent = completed = timeouts = mismatched = truncated = errors = over = 0
    bytes_out = bytes_in = 0
    lat_min, lat_max, lat_sum, lat_sumsq = MAX_VALUE, 0, 0, 0
    iv_done = iv_sum = iv_max = iv_timeouts = 0

    t0 = _wait_for_start(plan)
    stop_at = t0 + int(plan.duration * 1e9) if plan.duration > 0 else 1 << 62
    next_tick = t0 + tick_ns
    next_report = t0 + interval_ns
    last_done = t0
    sending = True
    send_end = drain_until = 0
    try:
        while True:
            now = clock()
            wait = (next_tick - now) / 1e9
            if sending:
                if now >= stop_at or (count and sent >= count):
                    sending = False
                    send_end = now
                    drain_until = now + timeout_ns
                else:
                    room = concurrency - len(inflight)
                    if count and count - sent < room:
                        room = count - sent
                    if qps:
                        allowed = int((now - t0) * qps / 1e9) + 1 - sent
                        if allowed < room:
                            room = allowed
                            wait = min(wait, 1 / qps)
                    while room > 0:
                        qid = (qid + 1) & 0xFFFF
                        if qid in inflight:
                            continue
                        wire = wires[qi]
                        pack_into("!H", wire, 0, qid)
                        try:
                            senders[turn](wire)
                        except OSError:
                            # A full socket buffer or an ICMP error queued on the socket.
                            errors += 1
                            break
                        inflight[qid] = clock()
                        query_of[qid] = qi
                        bytes_out += len(wire)
                        sent += 1
                        room -= 1
                        qi += 1
                        if qi == nqueries:
                            qi = 0
                        turn += 1
                        if turn == len(senders):
                            turn = 0
            if not sending and (not inflight or now >= drain_until):
                break
            if now >= next_tick:
                cutoff = now - timeout_ns
                expired = []
                for old_id, sent_at in inflight.items():
                    if sent_at > cutoff:
                        break
                    expired.append(old_id)
                for old_id in expired:
                    del inflight[old_id]
                timeouts += len(expired)
                iv_timeouts += len(expired)
                next_tick = now + tick_ns
                if iv_done or iv_timeouts:
                    part = stats.interval((now - t0) // interval_ns)
                    part.completed += iv_done
                    part.latency_sum += iv_sum
                    part.timeouts += iv_timeouts
                    if iv_max > part.latency_max:
                        part.latency_max = iv_max
                    iv_done = iv_sum = iv_max = iv_timeouts = 0
                if progress is not None and now >= next_report:
                    progress(sent, completed + timeouts)
                    next_report = now + interval_ns
                continue
            for fd, _ in poller.poll(max(wait, 0.0)):
                recv = receivers[fd]
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
                    question = questions[query_of[rid]]
                    if data[12 : 12 + len(question)] != question:
                        mismatched += 1
                        continue
                    del inflight[rid]
                    lat = arrived - asked
                    # stats.bucket_index, inlined
                    bits = lat.bit_length()
                    if bits <= SUB_BITS:
                        counts[lat] += 1
                    else:
                        shift = bits - SUB_BITS
                        counts[(shift << _SUB_HALF) + (lat >> shift)] += 1
                    if lat < lat_min:
                        lat_min = lat
                    if lat > lat_max:
                        lat_max = lat
                    if lat > iv_max:
                        iv_max = lat
                    lat_sum += lat
                    iv_sum += lat
                    lat_sumsq += lat * lat
                    if lat >= limit_ns:
                        over += 1
                    rcodes[data[3] & 0x0F] += 1
                    if data[2] & 0x02:
                        truncated += 1
                    bytes_in += len(data)
                    completed += 1
                    iv_done += 1
                    last_done = arrived
    finally:
        end = clock()
        poller.close()
        for sock in socks:
            sock.close()
    timeouts += len(inflight)  # never answered before the drain deadline: lost
    if iv_done or iv_timeouts:
        part = stats.interval((end - t0) // interval_ns)
        part.completed += iv_done
        part.latency_sum += iv_sum
        part.timeouts += iv_timeouts
        part.latency_max = max(part.latency_max, iv_max)
    stats.sent = stats.packets = sent
    stats.completed, stats.timeouts = completed, timeouts
    stats.mismatched, stats.truncated, stats.socket_errors = mismatched, truncated, errors
    stats.over_limit, stats.bytes_sent, stats.bytes_received = over, bytes_out, bytes_in
    stats.latency.total = 0
    stats.latency.add_moments(completed, lat_min, lat_max, lat_sum, lat_sumsq)
    stats.elapsed_ns = max(last_done, send_end if not sending else end) - t0
    if progress is not None:
        progress(sent, completed + timeouts)
    return stats


def run_tcp(plan: LoadPlan, progress: ProgressFn | None = None) -> RunStats:
    """Queries pipelined over a few TCP connections (RFC 7766 section 6.2.1.1 allows it)."""
    stats = RunStats(mode="tcp", interval_ns=int(plan.interval * 1e9))
    clock = time.perf_counter_ns
    timeout_ns = int(plan.timeout * 1e9)
    limit_ns = int(plan.limit_ms * 1e6) if plan.limit_ms > 0 else 1 << 62
    poller = select.epoll()
    conns: dict[int, _TcpConn] = {}

    def connect() -> _TcpConn:
        sock = socket.create_connection(plan.server, timeout=plan.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        conn = _TcpConn(sock)
        conns[sock.fileno()] = conn
        poller.register(sock.fileno(), select.EPOLLIN)
        return conn

    order = [connect() for _ in range(plan.socket_count)]
    wires = [bytearray(struct.pack("!H", len(t.wire)) + t.wire) for t in plan.templates]
    questions = [t.question for t in plan.templates]
    inflight: dict[int, int] = {}
    query_of = [0] * _ID_SPACE
    qid = random.randrange(_ID_SPACE)
    qi = turn = 0
    t0 = _wait_for_start(plan)
    stop_at = t0 + int(plan.duration * 1e9) if plan.duration > 0 else 1 << 62
    next_tick = t0 + stats.interval_ns
    last_done = t0
    sending = True
    send_end = drain_until = 0
    try:
        while True:
            now = clock()
            wait = (next_tick - now) / 1e9
            if sending and (now >= stop_at or (plan.count and stats.sent >= plan.count)):
                sending = False
                send_end = now
                drain_until = now + timeout_ns
            if sending:
                room = min(plan.concurrency, _ID_SPACE - 1) - len(inflight)
                if plan.count:
                    room = min(room, plan.count - stats.sent)
                if plan.qps:
                    allowed = int((now - t0) * plan.qps / 1e9) + 1 - stats.sent
                    if allowed < room:
                        room, wait = allowed, min(wait, 1 / plan.qps)
                while room > 0:
                    qid = (qid + 1) & 0xFFFF
                    if qid in inflight:
                        continue
                    wire = wires[qi]
                    struct.pack_into("!H", wire, 2, qid)
                    conn = order[turn]
                    if conn.closed:
                        conn = order[turn] = connect()
                    conn.write(bytes(wire), poller)
                    conn.pending.add(qid)
                    inflight[qid] = clock()
                    query_of[qid] = qi
                    stats.sent += 1
                    stats.bytes_sent += len(wire) - 2
                    room -= 1
                    qi = (qi + 1) % len(wires)
                    turn = (turn + 1) % len(order)
            if not sending and (not inflight or now >= drain_until):
                break
            if now >= next_tick:
                expired = _expire(inflight, now - timeout_ns)
                stats.timeouts += expired
                if expired:
                    stats.interval((now - t0) // stats.interval_ns).timeouts += expired
                next_tick = now + stats.interval_ns
                if progress is not None:
                    progress(stats.sent, stats.completed + stats.timeouts)
                continue
            for fd, events in poller.poll(max(wait, 0.0)):
                conn = conns[fd]
                if events & select.EPOLLOUT:
                    conn.flush(poller)
                if not events & (select.EPOLLIN | select.EPOLLERR | select.EPOLLHUP):
                    continue
                for data in conn.read_messages(poller):
                    arrived = clock()
                    rid = data[0] << 8 | data[1] if len(data) >= 12 else -1
                    sent_at = inflight.get(rid)
                    question = questions[query_of[rid]] if sent_at is not None else b""
                    if sent_at is None or data[12 : 12 + len(question)] != question:
                        stats.mismatched += 1
                        continue
                    del inflight[rid]
                    conn.pending.discard(rid)
                    _record(
                        stats,
                        arrived - sent_at,
                        data,
                        limit_ns,
                        (arrived - t0) // stats.interval_ns,
                    )
                    last_done = arrived
                if conn.closed:
                    # Queries still on a connection the server closed are lost, not slow.
                    lost = [i for i in conn.pending if i in inflight]
                    for i in lost:
                        del inflight[i]
                    stats.socket_errors += len(lost)
                    conn.pending.clear()
    finally:
        end = clock()
        poller.close()
        for conn in conns.values():
            conn.sock.close()
    stats.timeouts += len(inflight)
    stats.packets = stats.sent
    stats.elapsed_ns = max(last_done, send_end if not sending else end) - t0
    if progress is not None:
        progress(stats.sent, stats.completed + stats.timeouts)
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


def _record(stats: RunStats, lat: int, reply: bytes, limit_ns: int, interval: int) -> None:
    """Count one answered query (the slow path; run_udp inlines the same steps)."""
    stats.latency.record(lat)
    stats.completed += 1
    stats.rcodes[reply[3] & 0x0F] += 1
    stats.bytes_received += len(reply)
    if reply[2] & 0x02:
        stats.truncated += 1
    if lat >= limit_ns:
        stats.over_limit += 1
    part = stats.interval(interval)
    part.completed += 1
    part.latency_sum += lat
    part.latency_max = max(part.latency_max, lat)


class _TcpConn:
    """One pipelined TCP connection: a write backlog and a read buffer of length-prefixed messages."""

    __slots__ = ("sock", "backlog", "buffer", "closed", "pending")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.backlog = bytearray()
        self.buffer = bytearray()
        self.closed = False
        self.pending: set[int] = set()

    def write(self, data: bytes, poller: select.epoll) -> None:
        if self.closed:
            return
        if self.backlog:
            self.backlog += data
            return
        try:
            sent = self.sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            self.closed = True
            return
        if sent < len(data):
            self.backlog += data[sent:]
            poller.modify(self.sock.fileno(), select.EPOLLIN | select.EPOLLOUT)

    def flush(self, poller: select.epoll) -> None:
        try:
            sent = self.sock.send(self.backlog)
        except BlockingIOError:
            return
        except OSError:
            self.closed = True
            return
        del self.backlog[:sent]
        if not self.backlog:
            poller.modify(self.sock.fileno(), select.EPOLLIN)

    def read_messages(self, poller: select.epoll) -> list[bytes]:
        messages = []
        while True:
            try:
                chunk = self.sock.recv(65536)
            except BlockingIOError:
                break
            except OSError:
                chunk = b""
            if not chunk:
                # The server closed the connection: queries still on it will time out.
                self.closed = True
                fd = self.sock.fileno()
                poller.unregister(fd)
                break
            self.buffer += chunk
        while len(self.buffer) >= 2:
            size = self.buffer[0] << 8 | self.buffer[1]
            if len(self.buffer) < 2 + size:
                break
            messages.append(bytes(self.buffer[2 : 2 + size]))
            del self.buffer[: 2 + size]
        return messages
