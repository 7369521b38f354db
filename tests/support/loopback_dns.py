"""A tiny authoritative DNS server on 127.0.0.1 for the resolver tests (UDP and TCP, one thread).

It serves a few names of ``cluster.local`` and the "external" ``example.com`` itself:
it is a server the test started on loopback, not an upstream.  Unknown names are
NXDOMAIN, known names without the asked type are NODATA, a few names answer SERVFAIL
or never answer, and ``big.example.com`` does not fit in 512 bytes (TC over UDP).
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

RECORDS: dict[str, dict[str, list[str]]] = {
    "web.default.svc.cluster.local.": {"A": ["10.96.0.20"]},
    "kubernetes.default.svc.cluster.local.": {"A": ["10.96.0.1"]},
    "api.default.svc.cluster.local.": {"TXT": ['"only text here"']},
    "web.other.svc.cluster.local.": {"A": ["10.96.1.5"]},
    "example.com.": {"A": ["93.184.216.34"], "AAAA": ["2606:2800:220:1:248:1893:25c8:1946"]},
    "www.example.com.": {
        "A": ["93.184.216.34"],
        "AAAA": ["2606:2800:220:1:248:1893:25c8:1946"],
    },
    "big.example.com.": {"A": [f"192.0.2.{i}" for i in range(1, 61)]},
}
SERVFAIL_NAMES = {"broken.default.svc.cluster.local."}
DROP_NAMES = {"silent.default.svc.cluster.local."}


@dataclass
class LoopbackServer:
    address: tuple[str, int]
    log: list[tuple[str, str, str]] = field(default_factory=list)  # (name, type, transport)

    @property
    def label(self) -> str:
        return f"{self.address[0]}:{self.address[1]}"


def answer(wire: bytes, limit: int | None) -> bytes | None:
    query = dns.message.from_wire(wire)
    question = query.question[0]
    name = question.name.to_text().lower()
    qtype = dns.rdatatype.to_text(question.rdtype)
    if name in DROP_NAMES:
        return None
    reply = dns.message.make_response(query)
    reply.flags |= dns.flags.AA | dns.flags.RA
    if name in SERVFAIL_NAMES:
        reply.set_rcode(dns.rcode.SERVFAIL)
    elif name not in RECORDS:
        reply.set_rcode(dns.rcode.NXDOMAIN)
    elif qtype in RECORDS[name]:
        reply.answer.append(dns.rrset.from_text_list(name, 30, "IN", qtype, RECORDS[name][qtype]))
    if limit is None:
        return reply.to_wire()
    try:
        return reply.to_wire(max_size=limit)
    except dns.exception.TooBig:
        reply.answer.clear()
        reply.flags |= dns.flags.TC
        return reply.to_wire()


def _udp_limit(wire: bytes) -> int:
    query = dns.message.from_wire(wire)
    return max(query.payload, 512) if query.edns >= 0 else 512


def _serve(
    server: LoopbackServer, udp: socket.socket, tcp: socket.socket, stop: threading.Event
) -> None:
    while not stop.is_set():
        readable, _, _ = select.select([udp, tcp], [], [], 0.05)
        if udp in readable:
            wire, peer = udp.recvfrom(65535)
            _note(server, wire, "udp")
            out = answer(wire, _udp_limit(wire))
            if out is not None:
                udp.sendto(out, peer)
        if tcp in readable:
            conn, _ = tcp.accept()
            with conn:
                conn.settimeout(2)
                with contextlib.suppress(OSError, struct.error):
                    while True:
                        head = conn.recv(2)
                        if len(head) < 2:
                            break
                        (length,) = struct.unpack("!H", head)
                        wire = b""
                        while len(wire) < length:
                            chunk = conn.recv(length - len(wire))
                            if not chunk:
                                break
                            wire += chunk
                        _note(server, wire, "tcp")
                        out = answer(wire, None)
                        if out is None:
                            break
                        conn.sendall(struct.pack("!H", len(out)) + out)


def _note(server: LoopbackServer, wire: bytes, transport: str) -> None:
    query = dns.message.from_wire(wire)
    question = query.question[0]
    server.log.append((question.name.to_text(), dns.rdatatype.to_text(question.rdtype), transport))


def _bind_pair() -> tuple[socket.socket, socket.socket]:
    for _ in range(20):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        port = udp.getsockname()[1]
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            tcp.bind(("127.0.0.1", port))
        except OSError:
            udp.close()
            tcp.close()
            continue
        tcp.listen(8)
        return udp, tcp
    raise RuntimeError("no free UDP+TCP port pair on 127.0.0.1")


@contextlib.contextmanager
def running_server() -> Iterator[LoopbackServer]:
    udp, tcp = _bind_pair()
    server = LoopbackServer(udp.getsockname()[:2])
    stop = threading.Event()
    thread = threading.Thread(target=_serve, args=(server, udp, tcp, stop), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join(timeout=5)
        udp.close()
        tcp.close()
