"""explain against the test server on 127.0.0.1: the queries really sent, in order."""

from __future__ import annotations

from clusterdns.resolver.client import Client
from clusterdns.resolver.explain import explain
from clusterdns.resolver.resolvconf import Libc, parse
from tests.support.loopback_dns import LoopbackServer

POD = "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\n"


def _conf(options: str):  # type: ignore[no-untyped-def]
    return parse(POD + f"options {options}\n")


def _sent(server: LoopbackServer) -> list[tuple[str, str]]:
    return [(name, qtype) for name, qtype, _ in server.log]


def test_seed_eight_queries_for_an_external_name_under_ndots5(dns_server: LoopbackServer) -> None:
    for libc in Libc:
        dns_server.log.clear()
        x = explain("www.example.com", _conf("ndots:5"), libc, Client(dns_server.address))
        names = [
            "www.example.com.default.svc.cluster.local.",
            "www.example.com.svc.cluster.local.",
            "www.example.com.cluster.local.",
            "www.example.com.",
        ]
        assert _sent(dns_server) == [(n, t) for n in names for t in ("A", "AAAA")]
        assert (x.sent, x.wasted) == (8, 6)
        assert "93.184.216.34" in x.addresses
        assert {a.kind for a in x.advice} >= {"trailing-dot", "ndots", "autopath", "node-cache"}


def test_two_queries_with_ndots2_or_a_trailing_dot(dns_server: LoopbackServer) -> None:
    for name, options in [("www.example.com", "ndots:2"), ("www.example.com.", "ndots:5")]:
        for libc in Libc:
            dns_server.log.clear()
            x = explain(name, _conf(options), libc, Client(dns_server.address))
            assert _sent(dns_server) == [("www.example.com.", "A"), ("www.example.com.", "AAAA")]
            assert x.wasted == 0 and x.advice == ()


def test_musl_never_searches_a_name_with_enough_dots(dns_server: LoopbackServer) -> None:
    glibc = explain("web.other", _conf("ndots:1"), Libc.GLIBC, Client(dns_server.address))
    musl = explain("web.other", _conf("ndots:1"), Libc.MUSL, Client(dns_server.address))
    assert glibc.found is not None and glibc.found.name == "web.other.svc.cluster.local."
    assert [s.candidate.name for s in glibc.steps] == [
        "web.other.", "web.other.default.svc.cluster.local.", "web.other.svc.cluster.local."
    ]  # fmt: skip
    assert musl.found is None and [s.candidate.name for s in musl.steps] == ["web.other."]


def test_musl_stops_on_nodata_glibc_goes_on(dns_server: LoopbackServer) -> None:
    glibc = explain("api", _conf("ndots:5"), Libc.GLIBC, Client(dns_server.address))
    musl = explain("api", _conf("ndots:5"), Libc.MUSL, Client(dns_server.address))
    assert len(glibc.steps) == 4 and glibc.found is None
    assert len(musl.steps) == 1 and musl.steps[0].reason.startswith("EAI_NONAME")
    assert [a.kind for a in musl.advice] == ["musl"]


def test_single_request_sends_on_one_socket_one_after_the_other(dns_server: LoopbackServer) -> None:
    x = explain("web", _conf("ndots:5 single-request"), Libc.GLIBC, Client(dns_server.address))
    assert x.found is not None and x.addresses == ("10.96.0.20",)
    assert len({e.source_port for e in x.exchanges}) == 1


def test_truncated_reply_is_asked_again_over_tcp(dns_server: LoopbackServer) -> None:
    x = explain("big.example.com.", _conf("ndots:5"), Libc.GLIBC, Client(dns_server.address))
    assert [(e.qtype, e.transport, e.truncated) for e in x.exchanges] == [
        ("A", "udp", True), ("A", "tcp", False), ("AAAA", "udp", False)
    ]  # fmt: skip
    assert len(x.addresses) == 60


def test_use_vc_sends_everything_over_tcp(dns_server: LoopbackServer) -> None:
    explain("example.com.", _conf("use-vc"), Libc.GLIBC, Client(dns_server.address))
    assert {t for _, _, t in dns_server.log} == {"tcp"}
