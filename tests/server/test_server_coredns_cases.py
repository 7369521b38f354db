"""The server's own answers, end to end, as CoreDNS's server gives them.

Facts from coredns/coredns core/dnsserver/server.go (ServeDNS: class other than
IN REFUSED unless chaos/forward/proxy is loaded, EDNS version check, DS routed
to the parent zone, REFUSED when no zone matches or the zone has no plugin
chain), plugin/pkg/edns/edns.go (Version: the BADVERS reply), request/request.go
and request/writer.go (SizeAndDo: the query's OPT echoed; Scrub: truncation to
the client's size, 512 without EDNS), request/edns0.go (echoed options),
miekg/dns acceptfunc.go and server.go (DefaultMsgAcceptFunc: which headers are
refused before ServeDNS, and the header-only reply they get) and msg_truncate.go
(as many whole records as fit, TC set), and plugin/whoami/whoami.go.
"""

from __future__ import annotations

import socket
import struct

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from tests.support.serverutil import running
from tests.support.upstream import started

MANY = "\n".join(f"        10.1.0.{i} many.example.test" for i in range(1, 61))
COREFILE = f"""
example.test:0 {{
    bind 127.0.0.1
    hosts {{
        10.0.0.1 web.example.test
{MANY}
    }}
}}
who.example.test:0 {{
    bind 127.0.0.1
    whoami
}}
nochain.test:0 {{
    bind 127.0.0.1
}}
"""


@pytest.fixture(scope="module")
def srv():
    with running(COREFILE) as server:
        yield server


def header(qid: int, flags: int, qd: int, an: int = 0, ns: int = 0, ar: int = 0) -> bytes:
    return struct.pack(">HHHHHH", qid, flags, qd, an, ns, ar)


def question(name: str = "web.example.test", qtype: int = 1, qclass: int = 1) -> bytes:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
    return labels + b"\x00" + struct.pack(">HH", qtype, qclass)


ROOT_A = b"\x00" + struct.pack(">HHIH", 1, 1, 0, 4) + bytes(4)  # ". 0 IN A 0.0.0.0"


def raw(srv, payload: bytes, timeout: float = 2.0) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(payload, (srv.host, srv.port))
        try:
            return sock.recv(65535)
        except TimeoutError:
            return None


def udp(srv, message: dns.message.Message) -> dns.message.Message:
    return dns.query.udp(message, srv.host, port=srv.port, timeout=3)


RD, CD, AD, TC, QR, AA = 0x0100, 0x0010, 0x0020, 0x0200, 0x8000, 0x0400

# miekg/dns DefaultMsgAcceptFunc and Server.serveDNS: query -> (rcode, reply flags)
# of the header-only reply.  The query's flags come back with QR set, AA and Z
# cleared, the opcode kept only for NOTIMP.
REJECTED = [
    ("no question", header(7, RD, 0), 1, QR | RD),
    ("two questions", header(7, RD | CD, 2) + question() + question(), 1, QR | RD | CD),
    ("two answers", header(7, RD, 1, an=2) + question() + ROOT_A * 2, 1, QR | RD),
    ("two authority", header(7, 0, 1, ns=2) + question() + ROOT_A * 2, 1, QR),
    ("three additional", header(7, AD, 1, ar=3) + question() + ROOT_A * 3, 1, QR | AD),
    ("opcode UPDATE", header(7, RD | (5 << 11), 1) + question(), 4, QR | RD | (5 << 11)),
    ("opcode IQUERY", header(7, AA | (1 << 11), 0), 4, QR | (1 << 11)),
    ("truncated question", header(7, RD, 1) + question()[:-2], 1, QR | RD),
]


@pytest.mark.parametrize(
    ("query", "rcode", "flags"), [case[1:] for case in REJECTED], ids=[c[0] for c in REJECTED]
)
def test_rejected_before_serving_get_a_bare_header(srv, query: bytes, rcode: int, flags: int):
    reply = raw(srv, query)
    assert reply is not None and len(reply) == 12
    qid, got_flags, qd, an, ns, ar = struct.unpack(">HHHHHH", reply)
    assert (qid, got_flags, qd, an, ns, ar) == (7, flags | rcode, 0, 0, 0, 0)


def test_a_response_gets_no_reply(srv):
    assert raw(srv, header(7, QR, 1) + question(), timeout=0.5) is None


def test_opcode_notify_is_served(srv):
    # DefaultMsgAcceptFunc lets NOTIFY through to the plugins; the reply keeps the opcode.
    query = dns.message.make_query("who.example.test", "SOA")
    query.set_opcode(dns.opcode.NOTIFY)
    reply = udp(srv, query)
    assert reply.opcode() == dns.opcode.NOTIFY and reply.rcode() == dns.rcode.NOERROR


def test_outside_every_zone_is_refused_with_question_and_opt(srv):
    reply = udp(srv, dns.message.make_query("example.org", "A", use_edns=0, payload=1400))
    assert reply.rcode() == dns.rcode.REFUSED
    assert reply.question[0].name.to_text() == "example.org."
    assert reply.edns == 0 and reply.payload == 1400
    assert not reply.flags & dns.flags.AA


def test_a_block_without_query_plugins_is_refused(srv):
    # server.go: "zone defined, but has not got any plugins" -> REFUSED.
    assert srv.udp("x.nochain.test").rcode() == dns.rcode.REFUSED


@pytest.mark.parametrize("rdclass", ["CH", "HS", "ANY"])
def test_class_other_than_in_is_refused(srv, rdclass: str):
    reply = udp(srv, dns.message.make_query("who.example.test", "TXT", rdclass=rdclass))
    assert reply.rcode() == dns.rcode.REFUSED


def test_forward_opens_other_classes():
    # server.go EnableChaos: with forward loaded, a CH query goes down the chain.
    def answer(query: dns.message.Message, transport: str) -> dns.message.Message:
        return dns.message.make_response(query)

    with (
        started(answer) as upstream,
        running(f".:0 {{\n    bind 127.0.0.1\n    forward . {upstream.address}\n}}\n") as server,
    ):
        query = dns.message.make_query("version.bind", "TXT", rdclass="CH")
        reply = dns.query.udp(query, server.host, port=server.port, timeout=3)
        assert reply.rcode() == dns.rcode.NOERROR
        assert upstream.count() == 1


def test_ds_goes_to_the_parent_zone(srv):
    # server.go: a DS query keeps looking past its own zone for the parent's block.
    a = srv.udp("who.example.test", "A")
    assert [rrset.rdtype for rrset in a.additional] == [dns.rdatatype.A, dns.rdatatype.SRV]
    ds = srv.udp("who.example.test", "DS")
    assert ds.additional == []  # answered by example.test's hosts, not by whoami


def test_badvers(srv):
    # edns.Version: the question back, rcode BADVERS in a fresh OPT (version 0, size 0, no DO).
    query = dns.message.make_query("web.example.test", "A", use_edns=1, want_dnssec=True)
    query.flags |= dns.flags.CD
    reply = udp(srv, query)
    assert reply.rcode() == dns.rcode.BADVERS
    assert reply.edns == 0 and reply.payload == 0 and not reply.ednsflags & dns.flags.DO
    assert reply.question[0].name.to_text() == "web.example.test."
    assert reply.flags & dns.flags.CD and reply.flags & dns.flags.RD
    assert not reply.answer


@pytest.mark.parametrize("payload", [512, 1232, 4096, 65000])
def test_opt_echoes_the_clients_size(srv, payload: int):
    reply = udp(srv, dns.message.make_query("web.example.test", "A", use_edns=0, payload=payload))
    assert reply.edns == 0 and reply.payload == payload


def test_opt_echoes_do_and_known_options_only(srv):
    cookie = dns.edns.GenericOption(dns.edns.OptionType.COOKIE, b"\x01" * 8)
    unknown = dns.edns.GenericOption(65001, b"xy")
    query = dns.message.make_query(
        "web.example.test", "A", use_edns=0, want_dnssec=True, options=[cookie, unknown]
    )
    reply = udp(srv, query)
    assert reply.ednsflags & dns.flags.DO
    assert [(o.otype, o.to_wire()) for o in reply.options] == [
        (dns.edns.OptionType.COOKIE, b"\x01" * 8)
    ]


def test_no_edns_no_opt(srv):
    reply = srv.udp("web.example.test")
    assert reply.edns == -1


def test_udp_without_edns_is_cut_to_512_with_whole_records(srv):
    reply = raw(srv, dns.message.make_query("many.example.test", "A").to_wire())
    assert reply is not None and len(reply) <= 512
    message = dns.message.from_wire(reply)
    assert message.flags & dns.flags.TC and 0 < len(message.answer[0]) < 60


def test_udp_with_edns_is_cut_to_the_clients_size_keeping_the_opt(srv):
    query = dns.message.make_query("many.example.test", "A", use_edns=0, payload=700)
    reply = raw(srv, query.to_wire())
    assert reply is not None and len(reply) <= 700
    message = dns.message.from_wire(reply)
    assert message.flags & dns.flags.TC and 0 < len(message.answer[0]) < 60
    assert message.edns == 0 and message.payload == 700


def test_tcp_is_never_cut(srv):
    reply = srv.tcp("many.example.test")
    assert len(reply.answer[0]) == 60 and not reply.flags & dns.flags.TC


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_whoami_shape(srv, transport: str):
    # whoami.go: no answer; in the additional section the client's A and an SRV
    # _<proto>.<qname> with its port and target ".", TTL 0, authoritative.
    name = "x.who.example.test"
    reply = srv.udp(name) if transport == "udp" else srv.tcp(name)
    assert reply.rcode() == dns.rcode.NOERROR and reply.flags & dns.flags.AA
    assert reply.answer == []
    address, srv_rr = reply.additional
    assert address.name.to_text() == f"{name}." and address[0].address == "127.0.0.1"
    assert srv_rr.name.to_text() == f"_{transport}.{name}."
    assert srv_rr[0].target.to_text() == "." and srv_rr[0].port > 0
    assert address.ttl == 0 and srv_rr.ttl == 0
