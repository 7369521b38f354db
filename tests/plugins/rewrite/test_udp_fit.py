"""rewrite: a reply on the response path too big for the client's UDP size keeps what fits."""

from __future__ import annotations

from tests.support.serverutil import running
from tests.support.udpfit import ask, assert_cut_to_512, corefile, sixty, tcp_forward
from tests.support.upstream import started


def test_rewrite_keeps_what_fits() -> None:
    with (
        started(sixty) as up,
        running(
            corefile("rewrite name big.example. real.example.", tcp_forward(up.address))
        ) as srv,
    ):
        assert_cut_to_512(ask(srv.port, "big.example."))
        assert up.seen == [("tcp", "real.example.", "A")]
