"""Tiny DNS servers for plugin tests: dnspython on 127.0.0.1, in threads, with counters.

``FakeUpstream(answer)`` listens on one ephemeral port for UDP and TCP (and
TLS when given an ``ssl.SSLContext``); ``answer(query, transport)`` returns
the reply message, or None to stay silent.  It counts accepted TCP
connections and records every question it sees.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

Answer = Callable[[dns.message.Message, str], dns.message.Message | None]


def records(table: dict[str, list[str]], ttl: int = 300) -> Answer:
    """Answer from ``{"name. A": ["1.2.3.4"], ...}``; anything else is NXDOMAIN with an SOA."""

    def answer(query: dns.message.Message, transport: str) -> dns.message.Message:
        reply = dns.message.make_response(query)
        question = query.question[0]
        key = f"{question.name.to_text().lower()} {dns.rdatatype.to_text(question.rdtype)}"
        if key in table:
            reply.answer.append(
                dns.rrset.from_text_list(question.name, ttl, "IN", question.rdtype, table[key])
            )
        else:
            reply.set_rcode(dns.rcode.NXDOMAIN)
            reply.authority.append(
                dns.rrset.from_text(
                    question.name.parent() if len(question.name) > 1 else question.name,
                    ttl,
                    "IN",
                    "SOA",
                    "ns. host. 1 7200 1800 86400 60",
                )
            )
        return reply

    return answer


class FakeUpstream:
    def __init__(self, answer: Answer, tls: ssl.SSLContext | None = None, port: int = 0) -> None:
        self.answer = answer
        self.tls = tls
        self.lock = threading.Lock()
        self.tcp_accepts = 0
        self.seen: list[tuple[str, str, str]] = []  # (transport, name, type)
        self.udp, self.tcp = _bind_pair(port)
        self.port = self.udp.getsockname()[1]
        self.running = True
        self.threads = [
            threading.Thread(target=self._serve_udp, daemon=True),
            threading.Thread(target=self._serve_tcp, daemon=True),
        ]
        for thread in self.threads:
            thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def count(self, transport: str | None = None) -> int:
        with self.lock:
            return sum(1 for t, _, _ in self.seen if transport in (None, t))

    def _record(self, query: dns.message.Message, transport: str) -> None:
        question = query.question[0]
        with self.lock:
            self.seen.append(
                (transport, question.name.to_text(), dns.rdatatype.to_text(question.rdtype))
            )

    def _serve_udp(self) -> None:
        while self.running:
            try:
                data, peer = self.udp.recvfrom(65535)
            except OSError:
                return
            try:
                query = dns.message.from_wire(data)
            except Exception:
                continue
            self._record(query, "udp")
            reply = self.answer(query, "udp")
            if reply is not None:
                payload = query.payload if query.edns >= 0 else 512
                with contextlib.suppress(OSError):
                    self.udp.sendto(reply.to_wire(max_size=max(payload, 512)), peer)

    def _serve_tcp(self) -> None:
        while self.running:
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                return
            with self.lock:
                self.tcp_accepts += 1
            threading.Thread(target=self._serve_conn, args=(conn,), daemon=True).start()

    def _serve_conn(self, conn: socket.socket) -> None:
        transport = "tls" if self.tls else "tcp"
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            with conn:
                while self.running:
                    head = _read_exactly(conn, 2)
                    if head is None:
                        return
                    data = _read_exactly(conn, struct.unpack(">H", head)[0])
                    if data is None:
                        return
                    query = dns.message.from_wire(data)
                    self._record(query, transport)
                    reply = self.answer(query, transport)
                    if reply is not None:
                        wire = reply.to_wire()
                        conn.sendall(struct.pack(">H", len(wire)) + wire)
        except (OSError, ssl.SSLError, dns.exception.DNSException):
            return

    def stop(self) -> None:
        self.running = False
        for sock in (self.udp, self.tcp):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in self.threads:
            thread.join(2)

    def __enter__(self) -> FakeUpstream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _read_exactly(conn: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _bind_pair(port: int = 0) -> tuple[socket.socket, socket.socket]:
    """A UDP and a TCP socket on the same 127.0.0.1 port (ephemeral when 0)."""
    for _ in range(50):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", port))
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            tcp.bind(("127.0.0.1", udp.getsockname()[1]))
        except OSError:
            udp.close()
            tcp.close()
            continue
        tcp.listen(64)
        return udp, tcp
    raise RuntimeError("no free port pair on 127.0.0.1")


def free_port() -> int:
    """A 127.0.0.1 port nobody listens on (UDP and TCP): a dead upstream."""
    udp, tcp = _bind_pair()
    port = udp.getsockname()[1]
    udp.close()
    tcp.close()
    return port


@contextlib.contextmanager
def started(
    answer: Answer, tls: ssl.SSLContext | None = None, port: int = 0
) -> Iterator[FakeUpstream]:
    upstream = FakeUpstream(answer, tls, port)
    try:
        yield upstream
    finally:
        upstream.stop()


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A throwaway certificate for ``localhost`` and 127.0.0.1 (openssl CLI): (cert, key)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def server_tls(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def metric(name: str, **labels: str) -> float:
    """The current value of a metric in prometheus_client's default registry (0 when absent)."""
    from prometheus_client import REGISTRY

    value = REGISTRY.get_sample_value(name, labels)
    return value or 0.0


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``condition`` every 50 ms for at most ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()
