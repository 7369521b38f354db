"""cache against CoreDNS's own test tables (plugin/cache/*_test.go, CoreDNS 1.14.7).

Each table names the CoreDNS file and test it comes from; the cases are
restated as facts (query, upstream reply, what the client sees, how often the
upstream was asked).  Parse cases go through the whole Corefile plan (so a
refusal names file and line); serving cases run a real server on loopback
with a local upstream, except where time must pass: those drive the handler
with a controllable clock, as CoreDNS's tests set ``c.now``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rrset
import pytest

from clusterdns.dns.wire import SERVFAIL, parse_query
from clusterdns.errors import ConfigError
from clusterdns.plugins.cache.handler import Cache
from clusterdns.plugins.cache.options import CacheConfig
from clusterdns.plugins.plugin import Reply, Request
from clusterdns.server.server import Server
from tests.support.serverutil import running
from tests.support.upstream import started

SOA = "example.org. {ttl} IN SOA sns.dns.icann.org. noc.dns.icann.org. 2016082540 7200 3600 1209600 3600"


def plan_cache(body: str) -> CacheConfig:
    """Plan ``cache`` with ``body`` inside a one-block Corefile; the CacheConfig it yields."""
    text = f"example.nl:0 {{\n{body}\n}}\n"
    for block in Server(text, "Corefile", default_port=0).plan(text):
        for plugin in block.plugins:
            if isinstance(plugin, Cache):
                return plugin.config
    raise LookupError("no cache plugin")


def refused(body: str) -> str:
    with pytest.raises(ConfigError) as caught:
        plan_cache(body)
    message = str(caught.value)
    assert message.startswith("plugin/cache: Corefile:"), message
    return message


# -- setup_test.go: TestSetup ------------------------------------------------------------------

D_NCAP = D_PCAP = 10000
D_NTTL, D_PTTL, D_MIN = 1800, 3600, 5


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # (ncap, pcap, nttl, min nttl, pttl, min pttl, prefetch)
        ("cache", (D_NCAP, D_PCAP, D_NTTL, D_MIN, D_PTTL, D_MIN, 0)),
        ("cache {\n}", (D_NCAP, D_PCAP, D_NTTL, D_MIN, D_PTTL, D_MIN, 0)),
        ("cache example.nl {\nsuccess 10\n}", (D_NCAP, 10, D_NTTL, D_MIN, D_PTTL, D_MIN, 0)),
        ("cache example.nl {\nsuccess 10 1800 30\n}", (D_NCAP, 10, D_NTTL, D_MIN, 1800, 30, 0)),
        ("cache example.nl {\nsuccess 10\ndenial 10 15\n}", (10, 10, 15, D_MIN, D_PTTL, D_MIN, 0)),
        ("cache example.nl {\nsuccess 10\ndenial 10 15 2\n}", (10, 10, 15, 2, D_PTTL, D_MIN, 0)),
        ("cache 25 example.nl {\nsuccess 10\ndenial 10 15\n}", (10, 10, 15, D_MIN, 25, D_MIN, 0)),
        ("cache 25 example.nl {\nsuccess 10\ndenial 10 15 5\n}", (10, 10, 15, 5, 25, D_MIN, 0)),
        ("cache aaa example.nl", (D_NCAP, D_PCAP, D_NTTL, D_MIN, D_PTTL, D_MIN, 0)),
        ("cache {\nprefetch 10\n}", (D_NCAP, D_PCAP, D_NTTL, D_MIN, D_PTTL, D_MIN, 10)),
    ],
)
def test_setup_accepts(body: str, expected: tuple[int, ...]) -> None:
    c = plan_cache(body)
    got = (
        c.denial_capacity,
        c.success_capacity,
        c.denial_ttl,
        c.denial_min_ttl,
        c.success_ttl,
        c.success_min_ttl,
        c.prefetch,
    )
    assert got == expected


@pytest.mark.parametrize(
    "body",
    [
        "cache example.nl {\nsuccess\ndenial 10 15\n}",
        "cache example.nl {\nsuccess 15\ndenial aaa\n}",
        "cache example.nl {\npositive 15\nnegative aaa\n}",
        "cache 0 example.nl",
        "cache -1 example.nl",
        "cache 1 example.nl {\npositive 0\n}",
        "cache 1 example.nl {\npositive 0\nprefetch -1\n}",
        "cache 1 example.nl {\nprefetch 0 blurp\n}",
        "cache\ncache",
    ],
)
def test_setup_refuses(body: str) -> None:
    refused(body)


def test_zones_default_to_the_server_block_and_aaa_is_a_zone() -> None:
    assert plan_cache("cache").zones == ("example.nl.",)
    assert plan_cache("cache aaa example.nl").zones == ("aaa.", "example.nl.")


# -- setup_test.go: TestServeStale, TestServeStaleFailureRecheck --------------------------------


@pytest.mark.parametrize(
    ("line", "up_to", "verify", "verify_timeout", "stale_ttl"),
    [
        ("serve_stale", 3600, False, 0, 0),
        ("serve_stale 20m", 1200, False, 0, 0),
        ("serve_stale 1h20m", 4800, False, 0, 0),
        ("serve_stale 0m", 0, False, 0, 0),
        ("serve_stale 0", 0, False, 0, 0),
        ("serve_stale 0 verify", 0, True, 0, 0),
        ("serve_stale 0 immediate", 0, False, 0, 0),
        ("serve_stale 0 VERIFY", 0, True, 0, 0),
        ("serve_stale 1h immediate 30s", 3600, False, 0, 30),
        ("serve_stale 1h immediate 30s 30s", 3600, False, 0, 30),
        ("serve_stale 1h immediate 4294967295s", 3600, False, 0, 4294967295),
        ("serve_stale 1h immediate 0", 3600, False, 0, 0),
        ("serve_stale 1h verify 100ms", 3600, True, 0.1, 0),
        ("serve_stale 1h verify 100ms 30s", 3600, True, 0.1, 30),
        ("serve_stale 1h verify 100ms 30s 30s", 3600, True, 0.1, 30),
        ("serve_stale 1h verify 0", 3600, True, 0, 0),
        ("serve_stale 1h verify 0 1m", 3600, True, 0, 60),
        ("serve_stale 1h VERIFY 250ms", 3600, True, 0.25, 0),
    ],
)
def test_serve_stale_accepts(
    line: str, up_to: float, verify: bool, verify_timeout: float, stale_ttl: int
) -> None:
    c = plan_cache(f"cache {{\n{line}\n}}")
    assert (c.stale_up_to, c.verify_stale, c.stale_ttl) == (up_to, verify, stale_ttl)
    assert c.verify_timeout == pytest.approx(verify_timeout)


@pytest.mark.parametrize(
    "line",
    [
        "serve_stale 20",
        "serve_stale -20m",
        "serve_stale aa",
        "serve_stale 1m nono",
        "serve_stale 0 after nono",
        "serve_stale 1h immediate 100ms",
        "serve_stale 1h immediate 4294967296s",
        "serve_stale 1h immediate -1s",
        "serve_stale 1h immediate garbage",
        "serve_stale 1h immediate 30s extra",
        "serve_stale 1h verify -1ms",
        "serve_stale 1h verify garbage",
        "serve_stale 1h verify 100ms 500ms",
        "serve_stale 1h verify 100ms -1s",
        "serve_stale 1h verify 100ms garbage",
        "serve_stale 1h verify 100ms 30s extra",
        # TestServeStaleFailureRecheck
        "serve_stale 1h immediate 30s -1s",
        "serve_stale 1h immediate 30s 5m1s",
        "serve_stale 1h immediate 30s invalid",
        "serve_stale 1h immediate 30s 30s extra",
        "serve_stale 1h verify 100ms 30s -1s",
        "serve_stale 1h verify 100ms 30s 30s extra",
    ],
)
def test_serve_stale_refuses(line: str) -> None:
    refused(f"cache {{\n{line}\n}}")


@pytest.mark.parametrize(
    ("line", "recheck"),
    [
        ("serve_stale 1h immediate 30s 30s", 30),
        ("serve_stale 1h immediate 0 0", 0),
        ("serve_stale 1h verify 100ms 30s 250ms", 0.25),
        ("serve_stale 1h verify 0 0 5m", 300),
    ],
)
def test_serve_stale_failure_recheck(line: str, recheck: float) -> None:
    assert plan_cache(f"cache {{\n{line}\n}}").stale_recheck == pytest.approx(recheck)


# -- setup_test.go: TestServeStalePolicy, TestServfail, TestDisable, TestKeepttl ----------------


@pytest.mark.parametrize(
    ("lines", "prefer_positive"),
    [
        ("serve_stale\nserve_stale_policy prefer_positive", True),
        ("serve_stale_policy PREFER_POSITIVE\nserve_stale", True),
        ("serve_stale", False),
    ],
)
def test_serve_stale_policy_accepts(lines: str, prefer_positive: bool) -> None:
    assert plan_cache(f"cache {{\n{lines}\n}}").prefer_positive is prefer_positive


@pytest.mark.parametrize(
    "lines",
    [
        "serve_stale_policy prefer_positive",
        "serve_stale\nserve_stale_policy",
        "serve_stale\nserve_stale_policy prefer_positive extra",
        "serve_stale\nserve_stale_policy invalid",
        "serve_stale\nserve_stale_policy prefer_positive\nserve_stale_policy prefer_positive",
    ],
)
def test_serve_stale_policy_refuses(lines: str) -> None:
    refused(f"cache {{\n{lines}\n}}")


@pytest.mark.parametrize(
    ("line", "ttl"),
    [("servfail 1s", 1), ("servfail 5m", 300), ("servfail 0s", 0), ("servfail 0", 0)],
)
def test_servfail_accepts(line: str, ttl: float) -> None:
    assert plan_cache(f"cache {{\n{line}\n}}").servfail_ttl == ttl


@pytest.mark.parametrize(
    "line",
    [
        "servfail",
        "servfail 6m",
        "servfail 20",
        "servfail -1s",
        "servfail aa",
        "servfail 1m invalid",
    ],
)
def test_servfail_refuses(line: str) -> None:
    refused(f"cache {{\n{line}\n}}")


@pytest.mark.parametrize(
    ("lines", "denial_except", "success_except"),
    [
        ("disable denial example.com example.org", ("example.com.", "example.org."), ()),
        ("disable success example.com example.org", (), ("example.com.", "example.org.")),
        ("disable denial", (".",), ()),
        ("disable success", (), (".",)),
        (
            "disable denial example.com example.org\ndisable success example.com example.org",
            ("example.com.", "example.org."),
            ("example.com.", "example.org."),
        ),
    ],
)
def test_disable(
    lines: str, denial_except: tuple[str, ...], success_except: tuple[str, ...]
) -> None:
    c = plan_cache(f"cache {{\n{lines}\n}}")
    assert (c.denial_except, c.success_except) == (denial_except, success_except)


def test_disable_and_keepttl_refusals() -> None:
    refused("cache {\ndisable invalid example.com example.org\n}")
    refused("cache {\nkeepttl arg1\n}")
    assert plan_cache("cache {\nkeepttl\n}").keepttl


# -- serving through a real server -------------------------------------------------------------


@dataclass
class Canned:
    """An upstream reply: rcode, flags, and zone-file lines per section."""

    answer: list[str] = field(default_factory=list)
    authority: list[str] = field(default_factory=list)
    rcode: int = dns.rcode.NOERROR
    flags: int = dns.flags.RA
    edns_do: bool = False

    def __call__(self, query: dns.message.Message, transport: str) -> dns.message.Message:
        reply = dns.message.make_response(query)
        reply.flags |= self.flags
        reply.set_rcode(self.rcode)
        for text in self.answer:
            reply.answer.append(dns.rrset.from_text(*text.split(maxsplit=4)))
        for text in self.authority:
            reply.authority.append(dns.rrset.from_text(*text.split(maxsplit=4)))
        if self.edns_do:
            reply.use_edns(0, dns.flags.DO, 1232)
        return reply


def corefile(upstream: str, cache: str = "cache") -> str:
    return f".:0 {{\n    bind 127.0.0.1\n    {cache}\n    forward . {upstream}\n}}\n"


def sig_times(days_from_now: int) -> str:
    """RRSIG expiration and inception around today (YYYYMMDDHHMMSS)."""
    now = time.time()
    expire = time.strftime("%Y%m%d%H%M%S", time.gmtime(now + days_from_now * 86400))
    incept = time.strftime("%Y%m%d%H%M%S", time.gmtime(now - 30 * 86400))
    return f"{expire} {incept}"


SIG = "8 2 1800 {times} 12051 miek.nl. lAaEzB5teQLLKyDenatmyhca7blLRg9DoGNrhe3NReBZN5C5/pMQk8Jcu25hv2fW23/SLm5IC2zaDpp2Fzgm6Jf7e90/yLcwQPuE7JjS55WMF+HELEh7Z6AEb+Iq4BWmNhUz6gPxD4d9eRMs7EAzk13o1NYi5/JhfL6IlaYyqkc="
EXPIRED_SIG = SIG.format(times="20160521031301 20160421031301")

# (name, qname, qtype, reply, cached): plugin/cache/cache_test.go TestCacheInsertion
INSERTION = [
    (
        "ad bit",
        "miek.nl.",
        "MX",
        Canned(
            ["miek.nl. 3601 IN MX 1 aspmx.l.google.com.", "miek.nl. 3601 IN MX 10 aspmx2.googlemail.com."],
            flags=dns.flags.RA | dns.flags.AD,
        ),
        True,
    ),
    ("case sensitivity", "mIEK.nL.", "MX", Canned(["miek.nl. 3601 IN MX 1 aspmx.l.google.com."]), True),
    ("truncated", "miek.nl.", "MX", Canned(["miek.nl. 1800 IN MX 1 aspmx.l.google.com."], flags=dns.flags.TC), False),
    ("NXDOMAIN with SOA", "example.org.", "A", Canned(authority=[SOA.format(ttl=3600)], rcode=dns.rcode.NXDOMAIN), True),
    ("NXDOMAIN without SOA", "1.1.168.192.in-addr.arpa.", "PTR", Canned(rcode=dns.rcode.NXDOMAIN), False),
    ("SERVFAIL", "example.org.", "A", Canned(rcode=dns.rcode.SERVFAIL), True),
    ("NOTIMP", "example.org.", "A", Canned(rcode=dns.rcode.NOTIMP), True),
    (
        "CD bit",
        "dnssec-failed.org.",
        "A",
        Canned(["dnssec-failed.org. 3600 IN A 127.0.0.1"]),
        True,
    ),
    ("negative zone exception", "neg-disabled.example.org.", "A", Canned(authority=[SOA.format(ttl=3600)], rcode=dns.rcode.NXDOMAIN), False),
    ("positive zone exception", "pos-disabled.example.org.", "A", Canned(["pos-disabled.example.org. 3600 IN A 127.0.0.1"]), False),
    ("positive exception, negative answer", "pos-disabled.example.org.", "A", Canned(authority=[SOA.format(ttl=3600)], rcode=dns.rcode.NXDOMAIN), True),
    ("negative exception, positive answer", "neg-disabled.example.org.", "A", Canned(["neg-disabled.example.org. 3600 IN A 127.0.0.1"]), True),
    (
        "dangling CNAME chain without SOA",
        "alias.example.org.",
        "A",
        Canned(["alias.example.org. 3600 IN CNAME target1.example.net.", "target1.example.net. 3600 IN CNAME target2.example.net."]),
        False,
    ),
    (
        "CNAME chain ending in another type without SOA",
        "alias.example.org.",
        "A",
        Canned(["alias.example.org. 3600 IN CNAME target.example.net.", "target.example.net. 3600 IN AAAA ::1"]),
        False,
    ),
    ("MX query, CNAME without MX, no SOA", "alias.example.org.", "MX", Canned(["alias.example.org. 3600 IN CNAME target.example.net."]), False),
    (
        "MX query, CNAME chain ending in MX",
        "alias.example.org.",
        "MX",
        Canned(["alias.example.org. 3600 IN CNAME target.example.net.", "target.example.net. 3600 IN MX 10 mail.example.net."]),
        True,
    ),
    (
        "CNAME chain with an unrelated A off the chain",
        "alias.example.org.",
        "A",
        Canned(["alias.example.org. 3600 IN CNAME target.example.net.", "unrelated.example.net. 3600 IN A 192.0.2.1"]),
        False,
    ),
    ("lone CNAME to an ANY query", "alias.example.org.", "ANY", Canned(["alias.example.org. 3600 IN CNAME target.example.net."]), True),
    (
        "CNAME chain ending in A",
        "alias.example.org.",
        "A",
        Canned(["alias.example.org. 3600 IN CNAME target.example.net.", "target.example.net. 3600 IN A 127.0.0.1"]),
        True,
    ),
    (
        "CNAME chain ending in A, out of order",
        "alias.example.org.",
        "A",
        Canned(["target.example.net. 3600 IN A 127.0.0.1", "alias.example.org. 3600 IN CNAME target.example.net."]),
        True,
    ),
    ("CNAME answer to a CNAME query", "alias.example.org.", "CNAME", Canned(["alias.example.org. 3600 IN CNAME target.example.net."]), True),
    (
        "two CNAME targets at one owner",
        "alias.example.org.",
        "A",
        Canned(["alias.example.org. 3600 IN CNAME target1.example.net.", "alias.example.org. 3600 IN CNAME target2.example.net.", "target1.example.net. 3600 IN A 192.0.2.1"]),
        False,
    ),
    (
        "CNAME loop with a co-located A",
        "alias.example.org.",
        "A",
        Canned(["alias.example.org. 3600 IN CNAME target.example.net.", "target.example.net. 3600 IN CNAME alias.example.org.", "alias.example.org. 3600 IN A 192.0.2.1"]),
        False,
    ),
    (
        "CNAME chain with a CNAME and an SOA is NODATA (TestCNAMEWithSOAStoredAsNODATA)",
        "alias.example.org.",
        "A",
        Canned(["alias.example.org. 300 IN CNAME missing.example.net."], [SOA.format(ttl=300)]),
        True,
    ),
    ("FORMERR (error_test.go TestFormErr)", "example.org.", "A", Canned(rcode=dns.rcode.FORMERR), False),
    ("delegation", "www.example.org.", "A", Canned(authority=["example.org. 300 IN NS ns.example.org."]), True),
]  # fmt: skip

CACHE_WITH_EXCEPTIONS = "cache {\n disable denial neg-disabled.example.org\n disable success pos-disabled.example.org\n }"


@pytest.mark.parametrize(
    ("qname", "qtype", "reply", "cached"),
    [case[1:] for case in INSERTION],
    ids=[case[0] for case in INSERTION],
)
def test_insertion(qname: str, qtype: str, reply: Canned, cached: bool) -> None:
    with (
        started(reply) as up,
        running(corefile(up.address, CACHE_WITH_EXCEPTIONS)) as srv,
    ):
        first = srv.tcp(qname, qtype)
        second = srv.tcp(qname, qtype)
        assert up.count() == (1 if cached else 2)
        assert second.rcode() == reply.rcode
        if cached:
            assert second.flags & dns.flags.AA  # cached replies are always authoritative
            assert bool(second.flags & dns.flags.RA) == bool(reply.flags & dns.flags.RA)
            assert [r.to_text() for r in second.answer] == [r.to_text() for r in first.answer]


def test_ad_bit_and_ttl_cap_of_the_mx_case() -> None:
    """TestCacheInsertion "ad bit": 3601 comes back as 3600, AD kept for a client asking AD."""
    reply = INSERTION[0][3]
    with started(reply) as up, running(corefile(up.address)) as srv:
        for _ in range(2):
            got = srv.udp("miek.nl.", "MX", flags=dns.flags.RD | dns.flags.AD)
            assert got.flags & dns.flags.AD
            assert {rrset.ttl for rrset in got.answer} == {3600}
        assert up.count() == 1


def test_cd_bit_comes_back_on_a_hit() -> None:
    reply = Canned(["dnssec-failed.org. 3600 IN A 127.0.0.1"])
    with started(reply) as up, running(corefile(up.address)) as srv:
        srv.udp("dnssec-failed.org.", flags=dns.flags.RD | dns.flags.CD)
        hit = srv.udp("dnssec-failed.org.", flags=dns.flags.RD | dns.flags.CD)
        assert hit.flags & dns.flags.CD and hit.flags & dns.flags.AA
        assert up.count() == 1


@pytest.mark.parametrize(
    ("days", "cached"),
    [(-1, False), (30, True)],
    ids=["expired RRSIG with DO is not cached", "valid RRSIG with DO is cached"],
)
def test_rrsig_validity_with_do(days: int, cached: bool) -> None:
    """TestCacheInsertion: "expired RRSIG doesn't cache", "DO bit with RRSIG not expired"."""
    times = sig_times(days) if days > 0 else "20160521031301 20160421031301"
    reply = Canned(
        ["miek.nl. 3600 IN MX 1 aspmx.l.google.com.", f"miek.nl. 1800 IN RRSIG MX {SIG.format(times=times)}"],
        edns_do=True,
    )  # fmt: skip
    with started(reply) as up, running(corefile(up.address)) as srv:
        for _ in range(2):
            srv.udp("miek.nl.", "MX", want_dnssec=True)
        assert up.count() == (1 if cached else 2)
        assert EXPIRED_SIG  # the CoreDNS signature text, reused with other dates


# plugin/cache/cache_test.go TestCacheSeparation: (first query, second query, shares the entry)
SEPARATION = [
    ({}, {"rdtype": "AAAA"}, False),
    ({}, {"want_dnssec": True}, False),
    ({}, {"flags": dns.flags.RD | dns.flags.CD}, False),
    ({}, {"want_dnssec": True, "flags": dns.flags.RD | dns.flags.CD}, False),
    ({}, {"rdtype": "MX", "want_dnssec": True, "flags": dns.flags.RD | dns.flags.CD}, False),
    ({}, {"flags": dns.flags.RD | dns.flags.AA}, True),
    ({}, {"flags": dns.flags.RD | dns.flags.AD}, True),  # ad_bit_test.go: AD does not partition
]


@pytest.mark.parametrize(("first", "second", "shared"), SEPARATION)
def test_separation(first: dict[str, object], second: dict[str, object], shared: bool) -> None:
    def answer(query: dns.message.Message, transport: str) -> dns.message.Message:
        reply = dns.message.make_response(query)
        question = query.question[0]
        rdata = {1: "127.0.0.1", 28: "::1", 15: "10 mx.example.org."}[question.rdtype]
        reply.answer.append(dns.rrset.from_text(question.name, 300, "IN", question.rdtype, rdata))
        return reply

    with started(answer) as up, running(corefile(up.address)) as srv:
        srv.udp("example.org.", str(first.pop("rdtype", "A")), **first)
        srv.udp("example.org.", str(second.pop("rdtype", "A")), **second)
        assert up.count() == (1 if shared else 2)


def test_question_classes_are_kept_apart() -> None:
    """qclass_test.go TestCacheSeparatesQuestionClasses: a CH NXDOMAIN never answers IN."""
    seen: list[int] = []

    def answer(query: dns.message.Message, transport: str) -> dns.message.Message:
        reply = dns.message.make_response(query)
        question = query.question[0]
        seen.append(question.rdclass)
        if question.rdclass == dns.rdataclass.CH:
            reply.set_rcode(dns.rcode.NXDOMAIN)
            reply.authority.append(
                dns.rrset.from_text("cache-class.test.", 60, "CH", "SOA", "ns. host. 1 60 60 60 60")
            )
        else:
            reply.answer.append(dns.rrset.from_text(question.name, 60, "IN", "A", "192.0.2.1"))
        return reply

    with started(answer) as up, running(corefile(up.address)) as srv:
        chaos = srv.udp("victim.cache-class.test.", "A", rdclass="CH")
        inet = srv.udp("victim.cache-class.test.", "A")
        assert chaos.rcode() == dns.rcode.NXDOMAIN
        assert inet.rcode() == dns.rcode.NOERROR and len(inet.answer) == 1
        assert seen == [dns.rdataclass.CH, dns.rdataclass.IN]


@pytest.mark.parametrize(
    ("first_ad", "second_ad"), [(False, True), (True, False)], ids=["noad_then_ad", "ad_then_noad"]
)
def test_ad_bit_is_asked_upstream_and_shown_per_client(first_ad: bool, second_ad: bool) -> None:
    """ad_bit_test.go TestCacheADBitNotPartitioned: cache asks upstream with AD set."""
    asked: list[bool] = []

    def answer(query: dns.message.Message, transport: str) -> dns.message.Message:
        asked.append(bool(query.flags & dns.flags.AD))
        reply = dns.message.make_response(query)
        if query.flags & dns.flags.AD:
            reply.flags |= dns.flags.AD
        reply.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN", "A", "192.0.2.1"))
        return reply

    def flags(ad: bool) -> int:
        return dns.flags.RD | (dns.flags.AD if ad else 0)

    with started(answer) as up, running(corefile(up.address)) as srv:
        one = srv.udp("invent.example.org.", flags=flags(first_ad))
        two = srv.udp("invent.example.org.", flags=flags(second_ad))
    assert asked == [True]
    assert bool(one.flags & dns.flags.AD) is first_ad
    assert bool(two.flags & dns.flags.AD) is second_ad


# cache_test.go TestComputeTTL, TestCacheHonorsConfiguredPositiveMaxTTLAboveDefault,
# TestCacheZeroTTL, TestCacheServfailTTL0: (cache config, upstream TTL, TTL seen, cached)
TTL_RULES = [
    ("cache {\n success 10000 3600 300\n }", 1800, 1800, True),
    ("cache {\n success 10000 3600 300\n }", 299, 300, True),
    ("cache {\n success 10000 3600 0\n }", 299, 299, True),
    ("cache {\n success 10000 3600 300\n }", 3601, 3600, True),
    ("cache {\n success 10000 7200 0\n }", 86400, 7200, True),
    ("cache {\n success 10000 3600 0\n denial 10000 1800 0\n }", 0, 0, False),
    ("cache", 2, 5, True),  # the default MINTTL is 5
]


@pytest.mark.parametrize(("cache", "ttl", "seen", "cached"), TTL_RULES)
def test_ttl_rules(cache: str, ttl: int, seen: int, cached: bool) -> None:
    reply = Canned([f"example.org. {ttl} IN A 127.0.0.53"])
    with started(reply) as up, running(corefile(up.address, cache)) as srv:
        first = srv.udp("example.org.")
        second = srv.udp("example.org.")
        assert first.answer[0].ttl == seen
        assert second.answer[0].ttl in (seen, max(seen - 1, 0))
        assert up.count() == (1 if cached else 2)


def test_servfail_ttl_0_is_not_cached_and_default_is_5s() -> None:
    no_servfail = "cache {\n servfail 0\n }"
    with (
        started(Canned(rcode=dns.rcode.SERVFAIL)) as up,
        running(corefile(up.address, no_servfail)) as srv,
    ):
        srv.udp("example.org.")
        srv.udp("example.org.")
        assert up.count() == 2
    reply = Canned(authority=[SOA.format(ttl=300)], rcode=dns.rcode.SERVFAIL)
    with started(reply) as up, running(corefile(up.address)) as srv:
        got = srv.udp("example.org.")
        assert got.authority[0].ttl == 5  # the SERVFAIL's records carry the servfail duration
        srv.udp("example.org.")
        assert up.count() == 1


def test_delegation_is_cached_for_the_minimal_ttl() -> None:
    """dnsutil.MinimalTTLWithMaximum: a delegation is not read for a TTL: 5 s."""
    reply = Canned(authority=["example.org. 300 IN NS ns.example.org."])
    with started(reply) as up, running(corefile(up.address)) as srv:
        assert srv.udp("www.example.org.").authority[0].ttl == 5


# -- time passing: the handler with a controllable clock ---------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


Make = Callable[[dns.message.Message], dns.message.Message | None]


class Backend:
    """The next handler: answers from ``make`` (None: upstream down); counts calls, keeps AD asks."""

    def __init__(self, make: Make) -> None:
        self.make = make
        self.calls = 0

    async def __call__(self, request: Request) -> Reply:
        self.calls += 1
        await asyncio.sleep(0)
        reply = self.make(dns.message.from_wire(request.query.data))
        if reply is None:
            return Reply.unanswered(SERVFAIL, "forward", "upstream down")
        return Reply(reply.to_wire(), reply.rcode(), "forward")


def a_reply(ttl: int, address: str = "127.0.0.53") -> Make:
    def make(query: dns.message.Message) -> dns.message.Message:
        reply = dns.message.make_response(query)
        reply.flags |= dns.flags.RA
        reply.answer.append(dns.rrset.from_text(query.question[0].name, ttl, "IN", "A", address))
        return reply

    return make


def rcode_reply(rcode: int, soa_ttl: int) -> Make:
    def make(query: dns.message.Message) -> dns.message.Message:
        reply = dns.message.make_response(query)
        reply.set_rcode(rcode)
        reply.authority.append(dns.rrset.from_text(*SOA.format(ttl=soa_ttl).split(maxsplit=4)))
        return reply

    return make


def cache_of(body: str = "") -> tuple[Cache, Clock]:
    clock = Clock()
    config = plan_cache(f"cache . {{\n{body}\n}}") if body else CacheConfig()
    return Cache(config, clock=clock), clock


async def query(
    cache: Cache, backend: Backend, name: str = "cached.org.", **kw: object
) -> dns.message.Message:
    message = dns.message.make_query(name, "A", **kw)  # type: ignore[arg-type]
    request = Request(
        parse_query(message.to_wire()), "udp", ("127.0.0.1", 5000), "dns://:53", ".", 0.0
    )
    reply = await cache.serve(request, backend)
    assert reply.wire is not None, reply.error
    return dns.message.from_wire(reply.wire)


async def background_done(cache: Cache, deadline: float = 5.0) -> None:
    """Wait (with a deadline) until every background refresh and verify of ``cache`` has ended."""
    pending = [*cache.refreshing.values(), *cache.verifying]
    if pending:
        await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), deadline)
    assert not cache.refreshing and not cache.verifying


def run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def ttl_of(message: dns.message.Message) -> int:
    return (message.answer or message.authority)[0].ttl


def test_ttl_counts_down_in_whole_seconds_and_keepttl_does_not() -> None:
    """cache_test.go TestCacheKeepTTL, prefetch_test.go "no.prefetch" (30 -> 15 -> 1 -> fresh)."""

    async def scenario() -> None:
        cache, clock = cache_of()
        backend = Backend(a_reply(30))
        seen = []
        for after in (0, 15, 29, 30):
            clock.now = 1000.0 + after
            seen.append(ttl_of(await query(cache, backend)))
        assert seen == [30, 15, 1, 30] and backend.calls == 2
        keep, clock = cache_of("keepttl")
        backend = Backend(a_reply(60))
        for after in (0, 30):
            clock.now = 1000.0 + after
            assert ttl_of(await query(keep, backend)) == 60

    run(scenario())


@pytest.mark.parametrize(
    ("name", "minutes", "from_cache"),
    [
        ("cached.org.", 30, True),
        ("cached.org.", 60, True),
        ("cached.org.", 70, False),
        ("notcached.org.", 30, False),
        ("notcached.org.", 60, False),
        ("notcached.org.", 70, False),
    ],
)
def test_serve_from_stale_cache(name: str, minutes: int, from_cache: bool) -> None:
    """cache_test.go TestServeFromStaleCache: 60 s TTL, serve_stale 1h."""

    async def scenario() -> None:
        cache, clock = cache_of("serve_stale 1h")
        await query(cache, Backend(a_reply(60)))
        clock.now += minutes * 60
        down = Backend(lambda q: None)
        reply = await query(cache, down, name) if from_cache else None
        if from_cache:
            assert reply is not None and ttl_of(reply) == 0
            await background_done(cache)  # the background refresh fails; the entry stays
            assert down.calls == 1
            again = await query(cache, down, name)
            assert ttl_of(again) == 0 and again.answer[0][0].to_text() == "127.0.0.53"
            await background_done(cache)
        else:
            message = dns.message.make_query(name, "A")
            request = Request(
                parse_query(message.to_wire()), "udp", ("127.0.0.1", 1), "dns://:53", ".", 0.0
            )
            assert (await cache.serve(request, down)).rcode == SERVFAIL
            assert down.calls == 1

    run(scenario())


@pytest.mark.parametrize(
    ("line", "prime", "advance", "expected"),
    [
        ("serve_stale 1h immediate", "A", 120, 0),
        ("serve_stale 1h immediate 30s", "A", 120, 30),
        ("serve_stale 1h immediate 30s", "A", 60, 30),
        ("serve_stale 1h immediate 25s", "NXDOMAIN", 120, 25),
        ("serve_stale 1h verify 0 45s", "A", 120, 45),
        ("serve_stale 1h immediate 17s\nkeepttl", "A", 120, 17),
        ("serve_stale 1h immediate 30s", "A", 10, 50),
    ],
)
def test_stale_response_ttl(line: str, prime: str, advance: int, expected: int) -> None:
    """cache_test.go TestServeFromStaleCacheResponseTTL: upstream SERVFAILs once stale."""

    async def scenario() -> None:
        cache, clock = cache_of(line)
        make = a_reply(60) if prime == "A" else rcode_reply(dns.rcode.NXDOMAIN, 60)
        await query(cache, Backend(make))
        clock.now += advance
        reply = await query(cache, Backend(rcode_reply(dns.rcode.SERVFAIL, 60)))
        assert reply.rcode() == (dns.rcode.NOERROR if prime == "A" else dns.rcode.NXDOMAIN)
        assert ttl_of(reply) == expected
        await background_done(cache)

    run(scenario())


def test_serve_stale_verify() -> None:
    """cache_test.go TestServeFromStaleCacheFetchVerify: 120 s TTL, serve_stale 1h verify."""

    async def scenario() -> None:
        cache, clock = cache_of("serve_stale 1h verify")
        await query(cache, Backend(a_reply(120)))
        start = clock.now
        table = [
            (a_reply(200), 1, dns.rcode.NOERROR, 60),  # fresh: not asked
            (a_reply(200), 3, dns.rcode.NOERROR, 200),  # stale and upstream fine: its answer
            (rcode_reply(dns.rcode.SERVFAIL, 200), 7, dns.rcode.NOERROR, 0),  # stale served
            (rcode_reply(dns.rcode.NXDOMAIN, 150), 8, dns.rcode.NXDOMAIN, 150),  # NXDOMAIN shown
        ]
        for make, minutes, rcode, ttl in table:
            clock.now = start + minutes * 60
            reply = await query(cache, Backend(make))
            assert (reply.rcode(), ttl_of(reply)) == (rcode, ttl)

    run(scenario())


def test_serve_stale_verify_timeout() -> None:
    """TestServeFromStaleCacheFetchVerifyTimeout / ...FastUpstream: stale when slow, fresh when fast."""

    async def scenario() -> None:
        cache, clock = cache_of("serve_stale 1h verify 50ms 30s")
        await query(cache, Backend(a_reply(120)))
        clock.now += 180
        done = asyncio.Event()

        async def slow(request: Request) -> Reply:
            await asyncio.sleep(0.3)
            done.set()
            return await Backend(a_reply(60, "127.0.0.2"))(request)

        reply = await query(cache, slow)  # type: ignore[arg-type]
        assert ttl_of(reply) == 30 and reply.answer[0][0].to_text() == "127.0.0.53"
        await asyncio.wait_for(done.wait(), 5)
        await background_done(cache)
        fresh = await query(cache, Backend(lambda q: None))
        assert fresh.answer[0][0].to_text() == "127.0.0.2"  # the background verify stored it
        clock.now += 600
        fast = await query(cache, Backend(a_reply(200)))
        assert ttl_of(fast) == 200 and fast.flags & dns.flags.AA

    run(scenario())


def test_negative_stale_does_not_mask_a_later_positive() -> None:
    """cache_test.go TestNegativeStaleMaskingPositiveCache (serve_stale 10m)."""

    async def scenario() -> None:
        cache, clock = cache_of("serve_stale 10m")
        first = await query(cache, Backend(rcode_reply(dns.rcode.NXDOMAIN, 60)))
        assert first.rcode() == dns.rcode.NXDOMAIN
        assert len(cache.denial) == 1 and len(cache.success) == 0
        down = Backend(lambda q: None)
        assert (await query(cache, down)).rcode() == dns.rcode.NXDOMAIN
        clock.now += 300
        stale = await query(cache, Backend(a_reply(303)))
        assert stale.rcode() == dns.rcode.NXDOMAIN  # the stale NXDOMAIN, refreshed behind it
        await asyncio.gather(*cache.refreshing.values())
        assert len(cache.denial) == 0 and len(cache.success) == 1
        assert (await query(cache, down)).rcode() == dns.rcode.NOERROR

    run(scenario())


def test_servfail_does_not_shadow_a_positive_answer() -> None:
    """cache_test.go TestServfailDoesNotShadowPositiveCache: a stored SERVFAIL, a good answer."""

    async def scenario() -> None:
        cache, clock = cache_of("serve_stale 1h")
        await query(cache, Backend(a_reply(120)), "example.org.")
        clock.now += 30
        message = dns.message.make_query("example.org.", "A")
        request = Request(
            parse_query(message.to_wire()), "udp", ("127.0.0.1", 1), "dns://:53", ".", 0.0
        )
        servfail = rcode_reply(dns.rcode.SERVFAIL, 5)(message)
        assert servfail is not None
        key = ("example.org.", 1, 1, False, False)
        cache._store(request, key, servfail.to_wire())  # as a refresh would store it
        assert len(cache.denial) == 1
        reply = await query(cache, Backend(lambda q: None), "example.org.")
        assert reply.rcode() == dns.rcode.NOERROR and ttl_of(reply) == 90

    run(scenario())


def test_prefer_positive_policy() -> None:
    """cache_test.go TestPreferPositiveCachePolicy and ...VerifyKeepsStaleOnNonAnswers."""

    async def scenario() -> None:
        for policy, expected in (("", dns.rcode.NXDOMAIN), ("prefer_positive", dns.rcode.NOERROR)):
            body = "serve_stale 1h" + (f"\nserve_stale_policy {policy}" if policy else "")
            cache, clock = cache_of(body)
            await query(cache, Backend(a_reply(60)))
            clock.now += 120
            # the positive entry is stale; a fresh NXDOMAIN lands in the denial cache
            for task in list(cache.refreshing.values()):
                await task
            await query(cache, Backend(rcode_reply(dns.rcode.NXDOMAIN, 300)))
            await asyncio.gather(*cache.refreshing.values())
            reply = await query(cache, Backend(lambda q: None))
            assert reply.rcode() == expected, policy
        cache, clock = cache_of("serve_stale 1h verify\nserve_stale_policy prefer_positive")
        await query(cache, Backend(a_reply(60)))
        clock.now += 120
        for make in (
            rcode_reply(dns.rcode.NXDOMAIN, 300),
            rcode_reply(dns.rcode.SERVFAIL, 300),
        ):
            reply = await query(cache, Backend(make))
            assert reply.rcode() == dns.rcode.NOERROR and ttl_of(reply) == 0

    run(scenario())


# prefetch_test.go TestPrefetch: (qname, ttl, prefetch, [(after s, TTL seen, address, fetched)])
PREFETCH = [
    ("hits.reset.example.org.", 80, 1, [(0, 80, "127.0.0.1", True), (73, 7, "127.0.0.1", True), (80, 73, "127.0.0.2", False)]),
    ("short.ttl.example.org.", 5, 1, [(0, 5, "127.0.0.1", True), (1, 4, "127.0.0.1", False), (4, 1, "127.0.0.1", True), (5, 4, "127.0.0.2", False)]),
    ("no.prefetch.example.org.", 30, 0, [(0, 30, "127.0.0.1", True), (15, 15, "127.0.0.1", False), (29, 1, "127.0.0.1", False), (30, 30, "127.0.0.2", True)]),
]  # fmt: skip


@pytest.mark.parametrize(("qname", "ttl", "amount", "steps"), PREFETCH)
def test_prefetch(
    qname: str, ttl: int, amount: int, steps: list[tuple[int, int, str, bool]]
) -> None:
    async def scenario() -> None:
        cache, clock = cache_of(f"prefetch {amount}" if amount else "")
        fetches = {"n": 0}

        def make(query_: dns.message.Message) -> dns.message.Message:
            fetches["n"] += 1
            return a_reply(ttl, f"127.0.0.{fetches['n']}")(query_)

        backend = Backend(make)
        for after, seen, address, fetched in steps:
            clock.now = 1000.0 + after
            before = backend.calls
            reply = await query(cache, backend, qname)
            await asyncio.gather(*cache.refreshing.values())
            assert (ttl_of(reply), reply.answer[0][0].to_text()) == (seen, address)
            assert (backend.calls > before) is fetched

    run(scenario())


@pytest.mark.parametrize("prime", ["A", "NXDOMAIN"])
def test_failure_recheck_immediate(prime: str) -> None:
    """serve_stale_recheck_test.go TestServeStaleFailureRecheckImmediate."""

    async def scenario() -> None:
        cache, clock = cache_of(
            "success 10000 3600 0\ndenial 10000 1800 0\nserve_stale 1h immediate 30s 30s"
        )
        make = a_reply(1) if prime == "A" else rcode_reply(dns.rcode.NXDOMAIN, 1)
        await query(cache, Backend(make))
        clock.now += 2
        failing = Backend(rcode_reply(dns.rcode.SERVFAIL, 30))
        rcode = dns.rcode.NOERROR if prime == "A" else dns.rcode.NXDOMAIN
        assert (await query(cache, failing)).rcode() == rcode
        await asyncio.gather(*cache.refreshing.values())
        assert failing.calls == 1
        again = await query(cache, failing)
        assert again.rcode() == rcode and ttl_of(again) == 30
        await asyncio.gather(*cache.refreshing.values())
        assert failing.calls == 1  # within the recheck period: no new refresh
        clock.now += 31
        await query(cache, failing)
        await asyncio.gather(*cache.refreshing.values())
        assert failing.calls == 2

    run(scenario())


@pytest.mark.parametrize(
    ("line", "calls"), [("serve_stale 1h verify 0 0 30s", 1), ("serve_stale 1h verify", 2)]
)
def test_failure_recheck_verify(line: str, calls: int) -> None:
    """TestServeStaleFailureRecheckVerify and ...DisabledPreservesVerifyBehavior."""

    async def scenario() -> None:
        cache, clock = cache_of(f"success 10000 3600 0\n{line}")
        await query(cache, Backend(a_reply(1)))
        clock.now += 2
        failing = Backend(rcode_reply(dns.rcode.SERVFAIL, 30))
        await query(cache, failing)
        await query(cache, failing)
        assert failing.calls == calls

    run(scenario())


def test_reply_to_another_question_is_not_cached() -> None:
    """spoof_test.go TestSpoof and TestResponse: wrong name, wrong type, or no QR bit."""

    def spoof(name: str, rdtype: str, qr: bool) -> Make:
        def make(query_: dns.message.Message) -> dns.message.Message:
            reply = dns.message.make_query(name, rdtype)
            reply.id = query_.id
            if qr:
                reply.flags |= dns.flags.QR
            reply.answer.append(dns.rrset.from_text("example.org.", 300, "IN", "A", "127.0.0.53"))
            return reply

        return make

    async def scenario() -> None:
        for name, rdtype, qr in (
            ("example.net.", "A", True),
            ("example.org.", "MX", True),
            ("example.org.", "A", False),
        ):
            cache, _ = cache_of()
            await query(cache, Backend(spoof(name, rdtype, qr)), "example.org.")
            assert len(cache.success) == 0

    run(scenario())
