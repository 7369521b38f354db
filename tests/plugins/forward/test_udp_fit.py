"""forward: an upstream reply too big for the client's UDP size keeps the records that fit.

As CoreDNS's scrub writer does (request.Request.Scrub, miekg/dns Msg.Truncate): TC
set, the OPT mirroring the client's (request.SizeAndDo); see tests/support/udpfit.py.
"""

from __future__ import annotations

import dns.flags
import dns.message
import dns.query
import dns.rrset

from tests.support.serverutil import running
from tests.support.udpfit import COUNT, ask, assert_cut_to_512, corefile, sixty, tcp_forward
from tests.support.upstream import started


def test_forward_keeps_what_fits_and_echoes_the_clients_opt() -> None:
    with started(sixty) as up, running(corefile(tcp_forward(up.address))) as srv:
        assert_cut_to_512(ask(srv.port, "big.example."))
        small = ask(srv.port, "big.example.", edns=512)
        assert small.flags & dns.flags.TC and 0 < len(small.answer[0]) < COUNT
        assert small.payload == 512  # the OPT mirrors the query's size
        whole = ask(srv.port, "big.example.", edns=4096)
        assert not whole.flags & dns.flags.TC and len(whole.answer[0]) == COUNT


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
