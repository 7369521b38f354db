"""The thin I/O part of the stub resolver: put questions on the wire, record what came back.

Sockets and the clock live here and nowhere else in ``resolver``.  One ``Client`` talks
to one server address (a test server on loopback, a CoreDNS, ...); it never looks at the
machine's own resolv.conf.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rdatatype

from clusterdns.dns.names import split_host_port
from clusterdns.resolver.transport import Mode

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Question:
    name: str
    qtype: str


@dataclass(frozen=True, slots=True)
class Transmission:
    """Questions for one nameserver, how to send them and how long to wait."""

    questions: tuple[Question, ...]
    nameserver: str
    timeout: float
    mode: Mode
    edns: bool = False


@dataclass(frozen=True, slots=True)
class Exchange:
    """One question sent and what came of it."""

    name: str
    qtype: str
    nameserver: str  # the resolv.conf entry this stands for
    server: str  # the address the packet went to
    transport: str  # "udp" or "tcp"
    source_port: int | None
    rcode: int | None  # None: no reply
    answers: tuple[str, ...] = ()
    truncated: bool = False
    error: str | None = None  # "timeout" or "refused"
    elapsed: float = 0.0

    @property
    def has_answer(self) -> bool:
        return bool(self.answers)


Send = Callable[[Transmission], list[Exchange]]


def parse_server(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[V6]:PORT`` or ``HOST`` (port 53); ValueError when the port is bad."""
    return split_host_port(text, 53)


def _make_query(question: Question, edns: bool) -> dns.message.Message:
    query = dns.message.make_query(
        question.name, question.qtype, use_edns=0 if edns else False, payload=1232
    )
    query.flags |= dns.flags.RD
    return query


def _answers_of(reply: dns.message.Message, qtype: str) -> tuple[str, ...]:
    wanted = dns.rdatatype.from_text(qtype)
    return tuple(rd.to_text() for rrset in reply.answer if rrset.rdtype == wanted for rd in rrset)


class Client:
    """Send transmissions to one server address over UDP (and TCP when asked or truncated)."""

    def __init__(self, address: tuple[str, int], clock: Clock = time.monotonic) -> None:
        self.address = address
        self.clock = clock
        self.family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET

    @property
    def label(self) -> str:
        host, port = self.address
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def __call__(self, transmission: Transmission) -> list[Exchange]:
        if transmission.mode is Mode.TCP:
            return [self._tcp(q, transmission, "") for q in transmission.questions]
        if transmission.mode is Mode.SEQUENTIAL:
            with self._udp_socket() as sock:
                out: list[Exchange] = []
                for question in transmission.questions:
                    out.extend(self._udp_batch(sock, (question,), transmission))
                return out
        with self._udp_socket() as sock:
            results = self._udp_batch(sock, transmission.questions, transmission)
        answered = {(r.name, r.qtype) for r in results if r.error is None}
        missing = tuple(q for q in transmission.questions if (q.name, q.qtype) not in answered)
        if transmission.mode is Mode.REOPEN and missing and answered:
            with self._udp_socket() as sock:
                results.extend(self._udp_batch(sock, missing, transmission))
        return results

    def _udp_socket(self) -> socket.socket:
        sock = socket.socket(self.family, socket.SOCK_DGRAM)
        sock.setblocking(False)
        # Connected, as glibc does: an ICMP port unreachable becomes ECONNREFUSED.
        sock.connect(self.address)
        return sock

    def _udp_batch(
        self, sock: socket.socket, questions: Sequence[Question], t: Transmission
    ) -> list[Exchange]:
        port = sock.getsockname()[1]
        queries = [_make_query(q, t.edns) for q in questions]
        started = self.clock()
        pending = {query.id: (i, query) for i, query in enumerate(queries)}
        results: list[Exchange | None] = [None] * len(queries)
        refused = False
        try:
            for query in queries:
                sock.send(query.to_wire())
        except ConnectionRefusedError:
            refused = True
        deadline = started + t.timeout
        while pending and not refused:
            remaining = deadline - self.clock()
            if remaining <= 0:
                break
            readable, _, _ = select.select([sock], [], [], remaining)
            if not readable:
                break
            try:
                wire = sock.recv(65535)
            except ConnectionRefusedError:
                refused = True
                break
            try:
                reply = dns.message.from_wire(wire, ignore_trailing=True)
            except dns.exception.DNSException:
                continue
            entry = pending.get(reply.id)
            if entry is None or not entry[1].is_response(reply):
                continue
            del pending[reply.id]
            index, _ = entry
            results[index] = self._from_reply(
                question=questions[index],
                t=t,
                transport="udp",
                port=port,
                reply=reply,
                elapsed=self.clock() - started,
            )
        final: list[Exchange] = []
        for question, result in zip(questions, results, strict=True):
            if result is None:
                error = "refused" if refused else "timeout"
                result = self._failed(
                    question, t, transport="udp", port=port, error=error, started=started
                )
            final.append(result)
            if result.truncated:
                final.append(self._tcp(question, t, "truncated"))
        return final

    def _from_reply(
        self,
        question: Question,
        t: Transmission,
        transport: str,
        port: int | None,
        reply: dns.message.Message,
        elapsed: float,
    ) -> Exchange:
        return Exchange(
            name=question.name,
            qtype=question.qtype,
            nameserver=t.nameserver,
            server=self.label,
            transport=transport,
            source_port=port,
            rcode=reply.rcode(),
            answers=_answers_of(reply, question.qtype),
            truncated=bool(reply.flags & dns.flags.TC),
            elapsed=elapsed,
        )

    def _failed(
        self,
        question: Question,
        t: Transmission,
        *,
        transport: str,
        port: int | None,
        error: str,
        started: float,
    ) -> Exchange:
        """An exchange that got no reply: ``error`` is "timeout" or "refused"."""
        return Exchange(
            name=question.name,
            qtype=question.qtype,
            nameserver=t.nameserver,
            server=self.label,
            transport=transport,
            source_port=port,
            rcode=None,
            error=error,
            elapsed=self.clock() - started,
        )

    def _tcp(self, question: Question, t: Transmission, _why: str) -> Exchange:
        query = _make_query(question, t.edns)
        started = self.clock()
        try:
            reply = dns.query.tcp(query, self.address[0], timeout=t.timeout, port=self.address[1])
        except ConnectionRefusedError:
            return self._failed(
                question, t, transport="tcp", port=None, error="refused", started=started
            )
        except (dns.exception.Timeout, OSError):
            return self._failed(
                question, t, transport="tcp", port=None, error="timeout", started=started
            )
        return self._from_reply(
            question=question,
            t=t,
            transport="tcp",
            port=None,
            reply=reply,
            elapsed=self.clock() - started,
        )
