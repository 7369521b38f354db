"""cache: TTL rules and countdown with a controllable clock, stale serving, prefetch, metrics."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Callable

import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest

from clusterdns.corefile.model import Directive
from clusterdns.dns.wire import SERVFAIL, parse_query
from clusterdns.errors import ConfigError
from clusterdns.plugins.cache.handler import Cache
from clusterdns.plugins.cache.options import CacheConfig, parse
from clusterdns.plugins.cache.ttls import scan
from clusterdns.plugins.plugin import Reply, Request
from tests.support.serverutil import running
from tests.support.upstream import records, started


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Upstream:
    """A next handler answering from a function of the query; counts its calls."""

    def __init__(self, make: Callable[[dns.message.Message], dns.message.Message | None]) -> None:
        self.make = make
        self.calls = 0

    async def __call__(self, request: Request) -> Reply:
        self.calls += 1
        await asyncio.sleep(0)
        message = dns.message.from_wire(request.query.data)
        reply = self.make(message)
        if reply is None:
            return Reply.unanswered(SERVFAIL, "forward", "upstream down")
        return Reply(reply.to_wire(), reply.rcode(), "forward")


def a_record(
    ttl: int, address: str = "10.0.0.1"
) -> Callable[[dns.message.Message], dns.message.Message]:
    def make(query: dns.message.Message) -> dns.message.Message:
        reply = dns.message.make_response(query)
        reply.answer.append(dns.rrset.from_text(query.question[0].name, ttl, "IN", "A", address))
        return reply

    return make


def nxdomain(soa_ttl: int | None) -> Callable[[dns.message.Message], dns.message.Message]:
    def make(query: dns.message.Message) -> dns.message.Message:
        reply = dns.message.make_response(query)
        reply.set_rcode(dns.rcode.NXDOMAIN)
        if soa_ttl is not None:
            reply.authority.append(
                dns.rrset.from_text("example.", soa_ttl, "IN", "SOA", "ns. host. 1 2 3 4 60")
            )
        return reply

    return make


def ask(
    cache: Cache, upstream: Upstream, name: str = "www.example.", rdtype: str = "A", **kw: object
) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype, **kw)  # type: ignore[arg-type]
    request = Request(
        parse_query(query.to_wire()), "udp", ("127.0.0.1", 5000), "dns://:53", ".", 0.0
    )
    reply = asyncio.run(cache.serve(request, upstream))
    assert reply.wire is not None, reply.error
    message = dns.message.from_wire(reply.wire)
    assert message.id == query.id
    return message


def ttls(message: dns.message.Message) -> list[int]:
    return [rrset.ttl for section in (message.answer, message.authority) for rrset in section]


def make_cache(**options: object) -> tuple[Cache, Clock]:
    clock = Clock()
    return Cache(CacheConfig(**options), clock=clock), clock  # type: ignore[arg-type]


def test_hit_counts_ttl_down_and_patches_id_and_case() -> None:
    cache, clock = make_cache()
    upstream = Upstream(a_record(30))
    first = ask(cache, upstream)
    assert ttls(first) == [30] and not first.flags & dns.flags.AA
    clock.now += 10.9
    second = ask(cache, upstream, "WWW.Example.")
    assert second.question[0].name.to_text() == "WWW.Example."
    assert ttls(second) == [20]  # whole seconds elapsed, as CoreDNS
    assert second.flags & dns.flags.AA  # CoreDNS sets AA on cached replies
    assert upstream.calls == 1
    clock.now += 20
    ask(cache, upstream)
    assert upstream.calls == 2  # expired: asked again


@pytest.mark.parametrize(
    ("options", "make", "expected_ttl"),
    [
        ({}, a_record(2), 5),  # success MINTTL defaults to 5
        ({}, a_record(7200), 3600),  # success TTL cap defaults to 3600
        ({"success_ttl": 10}, a_record(300), 10),
        ({"success_min_ttl": 0}, a_record(2), 2),
        ({}, nxdomain(60), 60),  # denial: lowest TTL of the reply (the SOA's)
        ({}, nxdomain(7200), 1800),  # denial cap defaults to 1800
        ({"denial_ttl": 30}, nxdomain(300), 30),
    ],
)
def test_ttl_rules(
    options: dict[str, object], make: Callable[..., dns.message.Message], expected_ttl: int
) -> None:
    cache, _ = make_cache(**options)
    upstream = Upstream(make)
    assert ttls(ask(cache, upstream)) == [expected_ttl]
    assert ttls(ask(cache, upstream)) == [expected_ttl]
    assert upstream.calls == 1


def test_nxdomain_without_soa_is_not_cached() -> None:
    cache, _ = make_cache()
    upstream = Upstream(nxdomain(None))
    ask(cache, upstream)
    ask(cache, upstream)
    assert upstream.calls == 2


def test_key_includes_do_bit_and_type() -> None:
    cache, _ = make_cache()
    upstream = Upstream(a_record(30))
    ask(cache, upstream)
    ask(cache, upstream, want_dnssec=True)
    ask(cache, upstream, rdtype="AAAA")
    ask(cache, upstream, want_dnssec=True)
    assert upstream.calls == 3


def test_capacity_is_bounded_and_evicts() -> None:
    cache, _ = make_cache(success_capacity=2)
    upstream = Upstream(a_record(30))
    for name in ("a.example.", "b.example.", "c.example."):
        ask(cache, upstream, name)
    assert len(cache.success) == 2
    ask(cache, upstream, "a.example.")
    assert upstream.calls == 4  # the oldest went


def test_disable_success_for_a_zone() -> None:
    cache, _ = make_cache(success_except=("example.",))
    upstream = Upstream(a_record(30))
    ask(cache, upstream)
    ask(cache, upstream)
    ask(cache, upstream, "www.example.org.")
    ask(cache, upstream, "www.example.org.")
    assert upstream.calls == 3


def test_keepttl_serves_the_original_ttl() -> None:
    cache, clock = make_cache(keepttl=True)
    upstream = Upstream(a_record(30))
    ask(cache, upstream)
    clock.now += 12
    assert ttls(ask(cache, upstream)) == [30]


def test_serve_stale_while_upstream_is_down() -> None:
    cache, clock = make_cache(stale_up_to=3600.0)
    alive = {"up": True}
    upstream = Upstream(lambda q: a_record(30)(q) if alive["up"] else None)
    ask(cache, upstream)
    alive["up"] = False
    clock.now += 100
    stale = ask(cache, upstream)
    assert ttls(stale) == [0] and [str(r) for r in stale.answer[0]] == ["10.0.0.1"]
    clock.now += 4000  # beyond serve_stale's window: a miss, and the upstream's failure
    query = dns.message.make_query("www.example.", "A")
    request = Request(parse_query(query.to_wire()), "udp", ("127.0.0.1", 1), "dns://:53", ".", 0)
    assert asyncio.run(cache.serve(request, upstream)).rcode == SERVFAIL


def test_serve_stale_verify_asks_upstream_first() -> None:
    cache, clock = make_cache(stale_up_to=3600.0, verify_stale=True)
    address = {"value": "10.0.0.1"}
    upstream = Upstream(lambda q: a_record(30, address["value"])(q))
    ask(cache, upstream)
    address["value"] = "10.0.0.2"
    clock.now += 100
    fresh = ask(cache, upstream)
    assert [str(r) for r in fresh.answer[0]] == ["10.0.0.2"] and ttls(fresh) == [30]


def test_prefetch_is_single_flight_and_in_the_background() -> None:
    cache, clock = make_cache(prefetch=1, prefetch_percentage=50)
    upstream = Upstream(a_record(10))

    async def scenario() -> None:
        query = dns.message.make_query("www.example.", "A")
        request = Request(
            parse_query(query.to_wire()), "udp", ("127.0.0.1", 1), "dns://:53", ".", 0
        )
        await cache.serve(request, upstream)
        clock.now += 6  # ttl 4 <= 50% of 10: prefetch due
        replies = [await cache.serve(request, upstream) for _ in range(5)]
        assert all(r.plugin == "cache" for r in replies)
        assert len(cache.refreshing) == 1
        await asyncio.gather(*cache.refreshing.values())
        assert upstream.calls == 2
        fresh = dns.message.from_wire((await cache.serve(request, upstream)).wire or b"")
        assert ttls(fresh) == [10]

    asyncio.run(scenario())


def test_scan_finds_ttl_offsets_and_skips_opt() -> None:
    query = dns.message.make_query("www.example.", "A", use_edns=0)
    reply = dns.message.make_response(query)
    reply.answer.append(dns.rrset.from_text("www.example.", 42, "IN", "A", "10.0.0.1", "10.0.0.2"))
    reply.authority.append(dns.rrset.from_text("example.", 7, "IN", "NS", "ns.example."))
    wire = reply.to_wire()
    found = scan(wire)
    assert len(found.ttl_offsets) == 3 and found.opt is not None and found.min_ttl == 7
    assert [int.from_bytes(wire[o : o + 4], "big") for o in found.ttl_offsets] == [42, 42, 7]


@pytest.mark.parametrize(
    ("args", "options", "check"),
    [
        ("30", (), lambda c: (c.success_ttl, c.denial_ttl, c.zones) == (30, 30, (".",))),
        ("example.org", (), lambda c: c.zones == ("example.org.",)),
        ("", ("success 100 60 1",), lambda c: (c.success_capacity, c.success_ttl, c.success_min_ttl) == (100, 60, 1)),
        ("", ("denial 50 20",), lambda c: (c.denial_capacity, c.denial_ttl) == (50, 20)),
        ("", ("prefetch 5 2m 20%",), lambda c: (c.prefetch, c.prefetch_duration, c.prefetch_percentage) == (5, 120.0, 20)),
        ("", ("serve_stale",), lambda c: (c.stale_up_to, c.verify_stale) == (3600.0, False)),
        ("", ("serve_stale 10m verify",), lambda c: (c.stale_up_to, c.verify_stale) == (600.0, True)),
        ("", ("disable denial example.org",), lambda c: c.denial_except == ("example.org.",)),
        ("", ("keepttl",), lambda c: c.keepttl),
    ],
)  # fmt: skip
def test_parse(args: str, options: tuple[str, ...], check: Callable[[CacheConfig], bool]) -> None:
    block = tuple(Directive(o.split()[0], tuple(o.split()[1:]), (), "Corefile", 2) for o in options)
    assert check(parse(Directive("cache", tuple(args.split()), block, "Corefile", 1), (".",)))


@pytest.mark.parametrize(
    ("args", "options", "message"),
    [
        ("0", (), "cache TTL can not be zero or negative: 0"),
        ("", ("prefetch 1 1m 5%",), "percentage must be between 10 and 90"),
        ("", ("serve_stale 1h later",), "invalid value for serve_stale refresh mode"),
        ("", ("disable everything",), "cache type for disable must be"),
        ("", ("servfail 10m",), "over 5 minutes"),
        ("", ("bogus",), "unknown property 'bogus'"),
    ],
)
def test_parse_errors(args: str, options: tuple[str, ...], message: str) -> None:
    block = tuple(Directive(o.split()[0], tuple(o.split()[1:]), (), "Corefile", 2) for o in options)
    with pytest.raises(ConfigError, match=message):
        parse(Directive("cache", tuple(args.split()), block, "Corefile", 1), (".",))


def scrape(port: int) -> dict[str, float]:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3).read().decode()
    values: dict[str, float] = {}
    for line in body.splitlines():
        if line.startswith("coredns_cache_"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def test_memoized_hits_are_counted_in_cache_metrics() -> None:
    with started(records({"a.example. A": ["10.0.0.1"]}, ttl=60)) as up:
        text = f".:0 {{\n bind 127.0.0.1\n prometheus 127.0.0.1:0\n cache\n forward . {up.address}\n}}\n"
        with running(text) as srv:
            for _ in range(20):
                reply = srv.udp("a.example.")
                assert [str(r) for r in reply.answer[0]] == ["10.0.0.1"]
                assert reply.answer[0].ttl in (59, 60)
            srv.udp("nx.example.")
            srv.udp("nx.example.")
            values = scrape(srv.http_port("/metrics"))
            server = f'server="dns://127.0.0.1:{srv.port}"'  # CoreDNS labels a bound server by its address
        assert up.count() == 2
    hits = {
        k: v for k, v in values.items() if k.startswith("coredns_cache_hits_total") and server in k
    }
    assert sorted(hits.values()) == [1.0, 19.0]
    assert values[f'coredns_cache_misses_total{{{server},view="",zones="."}}'] == 2
    assert values[f'coredns_cache_requests_total{{{server},view="",zones="."}}'] == 22
    assert values[f'coredns_cache_entries{{{server},type="success",view="",zones="."}}'] == 1
