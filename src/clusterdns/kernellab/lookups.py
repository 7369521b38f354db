"""Lookups sent as glibc and musl send them, each timed: the lab's client pod.

One lookup is getaddrinfo's pair of questions, A and AAAA, for one name:

* ``parallel`` (glibc's default, res_send.c ``send_dg``): both from one UDP socket (one
  source port) at once; a missing reply is asked again after ``timeout``.  The two sends
  go out on two threads pinned to two CPUs, released together: on a node the two
  packets of one flow race through conntrack only when two CPUs handle them at once.
* ``musl`` (res_msend.c): the same pair on one socket, resent every timeout/attempts.
* ``single-request``: A, wait for its reply, then AAAA on the same socket.
* ``single-request-reopen``: as parallel; when one reply is missing, a new socket (a new
  source port, a new conntrack entry) asks for it again.
* ``use-vc``: both over one TCP connection.

The thread that calls ``lookup`` must be in the client's network namespace (it makes the
sockets); the pinned sender threads only use them.
"""

from __future__ import annotations

import enum
import os
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import dns.message
import dns.rdatatype

Clock = Callable[[], float]


class Resolver(enum.StrEnum):
    PARALLEL = "parallel"
    MUSL = "musl"
    SINGLE_REQUEST = "single-request"
    SINGLE_REQUEST_REOPEN = "single-request-reopen"
    USE_VC = "use-vc"


@dataclass(frozen=True, slots=True)
class LookupResult:
    elapsed: float  # seconds until both replies were in (or the lookup gave up)
    answered: bool  # both replies came back
    resends: int  # questions asked again after a wait


@dataclass(frozen=True, slots=True)
class LookupConfig:
    server: str
    name: str
    timeout: float  # glibc's options timeout (5 s in a pod); shorter in tests
    attempts: int = 2
    cpus: tuple[int, ...] = ()  # CPUs for the two parallel sends; () = as scheduled


def _queries(name: str) -> list[bytes]:
    return [dns.message.make_query(name, qtype).to_wire() for qtype in ("A", "AAAA")]


def _reply_id(wire: bytes) -> int | None:
    if len(wire) < 12 or not wire[2] & 0x80:  # QR bit: a response
        return None
    return int(struct.unpack("!H", wire[:2])[0])


def _udp_socket(server: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect((server, 53))  # connected, as glibc and musl do
    return sock


def _send_together(sock: socket.socket, wires: list[bytes], cpus: tuple[int, ...]) -> None:
    """Each query from its own thread, pinned to its own CPU, released by one barrier."""
    if len(wires) < 2 or len(cpus) < 2:
        for wire in wires:
            sock.send(wire)
        return
    barrier = threading.Barrier(len(wires))

    def send(wire: bytes, cpu: int) -> None:
        os.sched_setaffinity(0, {cpu})  # 0: this thread only (Linux sched_setaffinity)
        barrier.wait()
        sock.send(wire)

    threads = [
        threading.Thread(target=send, args=(wire, cpus[i % len(cpus)]))
        for i, wire in enumerate(wires)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _await_replies(sock: socket.socket, pending: set[int], deadline: float, clock: Clock) -> None:
    """Take replies off ``sock`` until every ID in ``pending`` is in or ``deadline`` passes."""
    while pending:
        remaining = deadline - clock()
        if remaining <= 0:
            return
        readable, _, _ = select.select([sock], [], [], remaining)
        if not readable:
            return
        try:
            wire = sock.recv(4096)
        except OSError:
            return
        pending.discard(_reply_id(wire) or -1)


def _ids(wires: list[bytes]) -> dict[int, bytes]:
    return {int(struct.unpack("!H", w[:2])[0]): w for w in wires}


def lookup(config: LookupConfig, resolver: Resolver, clock: Clock = time.monotonic) -> LookupResult:
    started = clock()
    wires = _queries(config.name)
    if resolver is Resolver.USE_VC:
        answered = _tcp_pair(config, wires)
        return LookupResult(clock() - started, answered, 0)
    if resolver is Resolver.SINGLE_REQUEST:
        return _single_request(config, wires, started, clock)
    by_id = _ids(wires)
    pending = set(by_id)
    resends = 0
    wait = config.timeout / config.attempts if resolver is Resolver.MUSL else config.timeout
    tries = config.attempts
    with _udp_socket(config.server) as sock:
        _send_together(sock, wires, config.cpus)
        for attempt in range(tries):
            _await_replies(sock, pending, clock() + wait, clock)
            if not pending or attempt == tries - 1:
                break
            resends += len(pending)
            if resolver is Resolver.SINGLE_REQUEST_REOPEN:
                with _udp_socket(config.server) as fresh:
                    for query_id in sorted(pending):
                        fresh.send(by_id[query_id])
                    _await_replies(fresh, pending, clock() + wait, clock)
                break
            for query_id in sorted(pending):
                sock.send(by_id[query_id])
    return LookupResult(clock() - started, not pending, resends)


def _single_request(
    config: LookupConfig, wires: list[bytes], started: float, clock: Clock
) -> LookupResult:
    resends = 0
    answered = True
    with _udp_socket(config.server) as sock:
        for query_id, wire in _ids(wires).items():
            pending = {query_id}
            for attempt in range(config.attempts):
                if attempt:
                    resends += 1
                sock.send(wire)
                _await_replies(sock, pending, clock() + config.timeout, clock)
                if not pending:
                    break
            answered = answered and not pending
    return LookupResult(clock() - started, answered, resends)


def _recv_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def _tcp_pair(config: LookupConfig, wires: list[bytes]) -> bool:
    """Both questions over one TCP connection (RFC 7766 section 6.2.1: pipelined)."""
    try:
        with socket.create_connection((config.server, 53), timeout=config.timeout) as sock:
            sock.sendall(b"".join(struct.pack("!H", len(w)) + w for w in wires))
            for _ in wires:
                (length,) = struct.unpack("!H", _recv_exactly(sock, 2))
                _recv_exactly(sock, length)
    except OSError:
        return False
    return True
