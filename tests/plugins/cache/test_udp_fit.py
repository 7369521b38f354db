"""cache: a stored reply too big for the client's UDP size keeps the records that fit."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.query
import dns.rrset

from tests.support.serverutil import running
from tests.support.udpfit import COUNT, ask, assert_cut_to_512, corefile, sixty, tcp_forward
from tests.support.upstream import started


def test_cache_keeps_what_fits() -> None:
    with started(sixty) as up, running(corefile("cache", tcp_forward(up.address))) as srv:
        assert len(ask(srv.port, "big.example.", tcp=True).answer[0]) == COUNT  # stored
        assert_cut_to_512(ask(srv.port, "big.example."))
        assert len(up.seen) == 1  # the second came from the cache
        reply = ask(srv.port, "big.example.", edns=1232)
        assert not reply.flags & dns.flags.TC and reply.payload == 1232
