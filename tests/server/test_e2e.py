"""The server end to end: real sockets on loopback, real dnspython clients."""

from __future__ import annotations

import socket
import struct
import threading
import time

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.query
import dns.rcode
import pytest

from tests.support.serverutil import answers, running

MANY = "\n".join(f"        10.1.0.{i} many.example.test" for i in range(1, 61))
COREFILE = f"""
example.test:0 {{
    bind 127.0.0.1
    errors
    prometheus 127.0.0.1:0
    hosts {{
        10.0.0.1 web.example.test
        fd00::1 web.example.test
{MANY}
        ttl 30
    }}
}}
"""


@pytest.fixture(scope="module")
def srv():
    with running(COREFILE) as server:
        yield server


def raw_udp(srv, payload: bytes, timeout: float = 1.0) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(payload, (srv.host, srv.port))
        try:
            return sock.recv(65535)
        except TimeoutError:
            return None


def test_udp_and_tcp_answer_the_same(srv):
    assert answers(srv.udp("web.example.test")) == ["web.example.test. 30 IN A 10.0.0.1"]
    assert answers(srv.tcp("web.example.test", "AAAA")) == ["web.example.test. 30 IN AAAA fd00::1"]


def test_question_case_comes_back_as_sent(srv):
    """0x20 clients (and dnsperf's case randomisation) check the question byte for byte."""
    for name in ("WeB.ExAmPlE.TeSt.", "WEB.EXAMPLE.TEST."):
        for _ in range(2):  # second time from the memo
            reply = srv.udp(name)
            assert reply.question[0].name.to_text() == name
            assert [rd.to_text() for rd in reply.answer[0]] == ["10.0.0.1"]


def test_authoritative_flags_and_id(srv):
    query = dns.message.make_query("web.example.test", "A")
    query.id = 4242
    reply = dns.query.udp(query, srv.host, port=srv.port, timeout=3)
    assert reply.id == 4242
    assert reply.flags & dns.flags.AA and reply.flags & dns.flags.RD
    assert reply.flags & dns.flags.QR


def test_outside_every_zone_is_refused(srv):
    assert srv.udp("example.org").rcode() == dns.rcode.REFUSED


def test_no_edns_means_512_bytes_and_tc(srv):
    """RFC 1035 4.2.1: 512 bytes without EDNS; RFC 7766: the full answer over TCP."""
    udp = srv.udp("many.example.test")
    # CoreDNS (miekg/dns Msg.Truncate): as many whole records as fit, and TC.
    assert udp.flags & dns.flags.TC and 0 < len(udp.answer[0]) < 60
    assert len(udp.to_wire()) <= 512
    tcp = srv.tcp("many.example.test")
    assert len(tcp.answer[0]) == 60 and not tcp.flags & dns.flags.TC


def test_edns_buffer_size_is_honoured(srv):
    big = srv.udp("many.example.test", use_edns=0, payload=4096)
    assert len(big.answer[0]) == 60 and big.edns == 0
    assert big.payload == 4096  # CoreDNS echoes the client's own size (request.SizeAndDo)
    small = srv.udp("many.example.test", use_edns=0, payload=600)
    assert small.flags & dns.flags.TC and small.edns == 0


def test_edns_size_below_512_counts_as_512(srv):
    reply = srv.udp("web.example.test", use_edns=0, payload=100)
    assert answers(reply) == ["web.example.test. 30 IN A 10.0.0.1"]


def test_do_bit_is_echoed(srv):
    reply = srv.udp("web.example.test", use_edns=0, want_dnssec=True)
    assert reply.ednsflags & dns.flags.DO


def test_edns_version_above_zero_is_badvers(srv):
    """RFC 6891 6.1.3."""
    reply = srv.udp("web.example.test", use_edns=1)
    assert reply.rcode() == dns.rcode.BADVERS


@pytest.mark.parametrize(
    "mutate, rcode",
    [
        (lambda w: w[:4] + b"\x00\x00" + w[6:12], dns.rcode.FORMERR),  # QDCOUNT 0
        (lambda w: w[:4] + b"\x00\x02" + w[6:], dns.rcode.FORMERR),  # QDCOUNT 2, one question
        (lambda w: w[:2] + bytes([w[2] | 0x10]) + w[3:], dns.rcode.NOTIMP),  # opcode 2 (STATUS)
        (lambda w: w[:-3], dns.rcode.FORMERR),  # question cut short
        (lambda w: w[:12] + b"\xc0\x0c" + w[-4:], dns.rcode.FORMERR),  # pointer loop in question
        (
            lambda w: w[:12] + b"\x50" + b"a" * 80 + b"\x00" + w[-4:],
            dns.rcode.FORMERR,
        ),  # label > 63
    ],
    ids=["qdcount-0", "qdcount-2", "opcode-status", "truncated-question", "pointer", "long-label"],
)
def test_malformed_queries_get_an_rcode(srv, mutate, rcode):
    wire = dns.message.make_query("web.example.test", "A").to_wire()
    reply = raw_udp(srv, mutate(wire))
    assert reply is not None
    assert reply[:2] == wire[:2]
    assert reply[3] & 0x0F == rcode
    assert reply[2] & 0x80  # QR


@pytest.mark.parametrize(
    "payload",
    [b"", b"\x00", b"\x12\x34\x01", b"x" * 11],
    ids=["empty", "one-byte", "three-bytes", "eleven-bytes"],
)
def test_packets_without_a_header_are_dropped(srv, payload):
    assert raw_udp(srv, payload, timeout=0.3) is None
    assert answers(srv.udp("web.example.test")) == ["web.example.test. 30 IN A 10.0.0.1"]


def test_responses_are_never_answered(srv):
    """A packet with QR set is a response: answering it could start a loop between servers."""
    wire = bytearray(dns.message.make_query("web.example.test", "A").to_wire())
    wire[2] |= 0x80
    assert raw_udp(srv, bytes(wire), timeout=0.3) is None


def tcp_message(sock: socket.socket) -> bytes:
    head = b""
    while len(head) < 2:
        chunk = sock.recv(2 - len(head))
        assert chunk, "connection closed"
        head += chunk
    (length,) = struct.unpack(">H", head)
    body = b""
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        assert chunk, "connection closed"
        body += chunk
    return body


def test_tcp_pipelines_several_queries_on_one_connection(srv):
    names = ["web.example.test" if i % 2 else "many.example.test" for i in range(10)]
    queries = [dns.message.make_query(n, "A") for n in names]
    for i, query in enumerate(queries):
        query.id = 1000 + i
    with socket.create_connection((srv.host, srv.port), timeout=3) as sock:
        sock.sendall(
            b"".join(struct.pack(">H", len(w)) + w for w in (q.to_wire() for q in queries))
        )
        replies = [dns.message.from_wire(tcp_message(sock)) for _ in queries]
    assert sorted(r.id for r in replies) == [1000 + i for i in range(10)]
    assert all(r.rcode() == dns.rcode.NOERROR and r.answer for r in replies)


def test_half_a_length_prefix_does_not_stall_others(srv):
    with socket.create_connection((srv.host, srv.port), timeout=3) as staller:
        staller.sendall(b"\x00")  # one byte of the two-byte length, then nothing
        with socket.create_connection((srv.host, srv.port), timeout=3) as other:
            staller.sendall(b"")
            wire = dns.message.make_query("web.example.test", "A").to_wire()
            other.sendall(struct.pack(">H", len(wire)) + wire)
            assert dns.message.from_wire(tcp_message(other)).answer
        assert answers(srv.udp("web.example.test")) == ["web.example.test. 30 IN A 10.0.0.1"]


def test_20000_queries_from_50_concurrent_clients_none_lost(srv):
    names = [b"web.example.test", b"many.example.test", b"nope.example.test"]
    wires = [dns.message.make_query(n.decode(), "A", use_edns=0).to_wire() for n in names]
    failures: list[str] = []

    def client(index: int) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(2)
            for i in range(400):
                wire = bytearray(wires[(index + i) % 3])
                qid = (index * 400 + i) & 0xFFFF
                wire[0:2] = struct.pack(">H", qid)
                sock.sendto(bytes(wire), (srv.host, srv.port))
                try:
                    reply = sock.recv(65535)
                except TimeoutError:
                    failures.append(f"client {index} query {i}: timeout")
                    continue
                if reply[:2] != wire[:2]:
                    failures.append(f"client {index} query {i}: wrong id")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert failures == []


def scrape(srv) -> str:
    port = srv.http_port("/metrics")
    with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data.decode()


def test_drops_and_answers_are_counted(srv):
    raw_udp(srv, b"\x01\x02\x03", timeout=0.2)
    deadline = time.monotonic() + 5
    text = scrape(srv)
    while 'reason="short header"' not in text and time.monotonic() < deadline:
        time.sleep(0.1)
        text = scrape(srv)
    assert 'clusterdns_dns_dropped_total{reason="short header",server=' in text
    assert 'coredns_dns_responses_total{plugin="hosts",rcode="NOERROR"' in text
    assert 'coredns_dns_responses_total{plugin="",rcode="FORMERR"' in text
