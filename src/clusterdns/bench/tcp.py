"""Queries over TCP for ``pacing.drive``: pipelined on a few connections (RFC 7766 section
6.2.1.1 allows it), each message behind its two-byte length."""

from __future__ import annotations

import select
import socket
import struct
import time
from collections.abc import Callable

from clusterdns.bench.pacing import Flight, LinkDown, Tally
from clusterdns.bench.plan import LoadPlan

_READABLE = select.EPOLLIN | select.EPOLLERR | select.EPOLLHUP


class TcpLink:
    """The TCP side of a load run: connections written to in turn, reconnected when closed."""

    id_offset = 2  # after the length prefix

    def __init__(self, plan: LoadPlan, flight: Flight, tally: Tally) -> None:
        self.server = plan.server
        self.timeout = plan.timeout
        self.flight = flight
        self.tally = tally
        self.wires = [bytearray(struct.pack("!H", len(t.wire)) + t.wire) for t in plan.templates]
        self.questions = [t.question for t in plan.templates]
        self.poller = select.epoll()
        self.conns: dict[int, _TcpConn] = {}
        self.order = [self._connect() for _ in range(plan.socket_count)]
        self.senders = [self._sender(turn) for turn in range(len(self.order))]

    def _connect(self) -> _TcpConn:
        sock = socket.create_connection(self.server, timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        conn = _TcpConn(sock)
        self.conns[sock.fileno()] = conn
        self.poller.register(sock.fileno(), select.EPOLLIN)
        return conn

    def _sender(self, turn: int) -> Callable[[bytearray], object]:
        def send(wire: bytearray) -> None:
            conn = self.order[turn]
            if conn.closed:
                try:
                    conn = self.order[turn] = self._connect()
                except OSError as exc:
                    raise LinkDown(exc) from exc
            conn.write(bytes(wire), self.poller)
            conn.pending.add(wire[2] << 8 | wire[3])

        return send

    def receive(self, wait: float) -> None:
        inflight = self.flight.sent_at
        for fd, events in self.poller.poll(wait):
            conn = self.conns[fd]
            if events & select.EPOLLOUT:
                conn.flush(self.poller)
            if not events & _READABLE:
                continue
            for data in conn.read_messages(self.poller):
                arrived = time.perf_counter_ns()
                rid = data[0] << 8 | data[1] if len(data) >= 12 else -1
                sent_at = inflight.get(rid)
                question = (
                    self.questions[self.flight.template_of[rid]] if sent_at is not None else b""
                )
                if sent_at is None or data[12 : 12 + len(question)] != question:
                    self.tally.mismatched += 1
                    continue
                del inflight[rid]
                conn.pending.discard(rid)
                self.tally.add(arrived - sent_at, data, arrived)
            if conn.closed:
                # Queries still on a connection the server closed are lost, not slow.
                lost = [i for i in conn.pending if i in inflight]
                for i in lost:
                    del inflight[i]
                self.tally.errors += len(lost)
                conn.pending.clear()

    def close(self) -> None:
        self.poller.close()
        for conn in self.conns.values():
            conn.sock.close()


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
