"""Replies too big for the client's UDP size keep the records that fit, with TC set.

CoreDNS writes every reply through its scrub writer (request.Request.Scrub, which
calls miekg/dns Msg.Truncate): answer, then authority, then additional records are
kept up to the first one that does not fit, TC is set, and the OPT record mirrors the
query's (request.SizeAndDo).  Here the same for a reply from forward, from cache and
from rewrite's response path.  Sixty A records of one name take 16 bytes each
(compressed owner), so 30 fit in 512 bytes after a header and a 17-byte question,
as Msg.Truncate counts them.
"""

from __future__ import annotations

import dns.flags
import dns.message
import dns.query
import dns.rrset

from tests.support.serverutil import running
from tests.support.upstream import started

COUNT = 60


def sixty(query: dns.message.Message, transport: str) -> dns.message.Message:
    """Every A question gets 60 records."""
    reply = dns.message.make_response(query)
    reply.request_payload = 0  # over TCP: never cut to the query's UDP size
    reply.answer.append(
        dns.rrset.from_text_list(
            query.question[0].name, 60, "IN", "A", [f"10.0.0.{i}" for i in range(COUNT)]
        )
    )
    return reply


def ask(port: int, name: str, edns: int | None = None, tcp: bool = False) -> dns.message.Message:
    if edns is None:
        query = dns.message.make_query(name, "A")
    else:
        query = dns.message.make_query(name, "A", use_edns=0, payload=edns)
    if tcp:
        return dns.query.tcp(query, "127.0.0.1", port=port, timeout=3)
    return dns.query.udp(query, "127.0.0.1", port=port, timeout=3)


def tcp_forward(address: str) -> str:
    """forward over TCP, as the node cache does: the upstream's whole reply comes back."""
    return f"forward . {address} {{\n        force_tcp\n    }}"


def corefile(*lines: str) -> str:
    body = "\n".join(f"    {line}" for line in lines)
    return f".:0 {{\n    bind 127.0.0.1\n{body}\n}}\n"


def assert_cut_to_512(reply: dns.message.Message) -> None:
    assert reply.flags & dns.flags.TC
    assert len(reply.answer) == 1 and len(reply.answer[0]) == 30
    assert len(reply.to_wire()) <= 512


def test_forward_keeps_what_fits_and_echoes_the_clients_opt() -> None:
    with started(sixty) as up, running(corefile(tcp_forward(up.address))) as srv:
        assert_cut_to_512(ask(srv.port, "big.example."))
        small = ask(srv.port, "big.example.", edns=512)
        assert small.flags & dns.flags.TC and 0 < len(small.answer[0]) < COUNT
        assert small.payload == 512  # the OPT mirrors the query's size
        whole = ask(srv.port, "big.example.", edns=4096)
        assert not whole.flags & dns.flags.TC and len(whole.answer[0]) == COUNT


def test_cache_keeps_what_fits() -> None:
    with started(sixty) as up, running(corefile("cache", tcp_forward(up.address))) as srv:
        assert len(ask(srv.port, "big.example.", tcp=True).answer[0]) == COUNT  # stored
        assert_cut_to_512(ask(srv.port, "big.example."))
        assert len(up.seen) == 1  # the second came from the cache
        reply = ask(srv.port, "big.example.", edns=1232)
        assert not reply.flags & dns.flags.TC and reply.payload == 1232


def test_rewrite_keeps_what_fits() -> None:
    with (
        started(sixty) as up,
        running(
            corefile("rewrite name big.example. real.example.", tcp_forward(up.address))
        ) as srv,
    ):
        assert_cut_to_512(ask(srv.port, "big.example."))
        assert up.seen == [("tcp", "real.example.", "A")]


def opt_answer(query: dns.message.Message, transport: str) -> dns.message.Message:
    """One A record; the upstream's OPT says 1400 bytes and sets DO only when asked."""
    reply = dns.message.make_response(query)
    reply.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN", "A", "10.0.0.1"))
    if query.edns >= 0:
        reply.use_edns(0, query.ednsflags & dns.flags.DO, payload=1400)
    return reply


def test_forwarded_reply_opt_reflects_the_clients_query() -> None:
    """request.SizeAndDo: the reply's OPT carries the client's UDP size, version 0, and DO
    when the client set it; a client without EDNS gets no OPT."""
    with started(opt_answer) as up, running(corefile(f"forward . {up.address}")) as srv:
        plain = ask(srv.port, "a.example.")
        assert plain.edns < 0
        sized = ask(srv.port, "b.example.", edns=3000)
        assert (sized.edns, sized.payload, sized.ednsflags & dns.flags.DO) == (0, 3000, 0)
        query = dns.message.make_query("c.example.", "A", want_dnssec=True, payload=2000)
        signed = dns.query.udp(query, "127.0.0.1", port=srv.port, timeout=3)
        assert (signed.payload, signed.ednsflags & dns.flags.DO) == (2000, dns.flags.DO)
