"""rewrite: CoreDNS's README examples end to end (the upstream is a fake server on loopback),
several rules with continue/stop, the reply's question restored, memo lifetimes, config errors.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import dns.edns
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from clusterdns.corefile import parse
from clusterdns.dns.wire import parse_query
from clusterdns.errors import ConfigError
from clusterdns.plugins.plugin import FOREVER, Reply, Request, SetupContext
from clusterdns.plugins.rewrite.setup import setup
from clusterdns.server.server import Server
from tests.support.serverutil import RunningServer, answers, running
from tests.support.upstream import FakeUpstream, records, started

TABLE = {
    "ftp.service.us-west-1.consul. A": ["10.10.10.10", "10.20.20.20", "10.30.30.30"],
    "www.google.com. A": ["192.0.2.1"],
    "ftp.service.consul. A": ["192.0.2.2"],
    "blue. A": ["192.0.2.3"],
    "c.test. A": ["192.0.2.4"],
    "www.coredns.rocks. A": ["192.0.2.5"],
    "example.org. HINFO": ['"cpu" "os"'],
}


@contextmanager
def serving(
    rules: str, table: dict[str, list[str]] | None = None
) -> Iterator[tuple[RunningServer, FakeUpstream]]:
    with started(records(table or TABLE)) as upstream:
        corefile = f".:0 {{\n    bind 127.0.0.1\n{rules}\n    forward . {upstream.address}\n}}\n"
        with running(corefile) as srv:
            yield srv, upstream


def asked(upstream: FakeUpstream) -> list[str]:
    return [f"{name} {rtype}" for _, name, rtype in upstream.seen]


# -- Name Field Rewrites (README) ----------------------------------------------------------------


def test_substring_rewrite_without_answer_rewrite_shows_the_mismatch() -> None:
    with serving(
        "    rewrite name substring service.us-west-1.example.org service.us-west-1.consul"
    ) as (srv, up):
        reply = srv.udp("ftp.service.us-west-1.example.org.", "A")
        assert asked(up) == ["ftp.service.us-west-1.consul. A"]
        assert reply.question[0].name.to_text() == "ftp.service.us-west-1.example.org."
        # the README's point: without an answer rule, the answer keeps the rewritten name
        assert {rrset.name.to_text() for rrset in reply.answer} == {"ftp.service.us-west-1.consul."}


def test_regex_rewrite_with_groups() -> None:
    with serving(
        r"    rewrite name regex (.*)-(us-west-1)\.example\.org {1}.service.{2}.consul"
    ) as (srv, up):
        srv.udp("ftp-us-west-1.example.org.", "A")
        assert asked(up) == ["ftp.service.us-west-1.consul. A"]


def test_suffix_rewrite() -> None:
    with serving("    rewrite name suffix .schmoogle.com. .google.com.") as (srv, up):
        reply = srv.udp("www.schmoogle.com.", "A")
        assert asked(up) == ["www.google.com. A"]
        assert [str(rr) for rrset in reply.answer for rr in rrset] == ["192.0.2.1"]


def test_suffix_answer_auto_maps_names_back() -> None:
    rules = (
        "    rewrite stop {\n        name suffix .coredns.rocks .service.consul answer auto\n    }"
    )
    with serving(rules) as (srv, up):
        reply = srv.udp("ftp.coredns.rocks.", "A")
        assert asked(up) == ["ftp.service.consul. A"]
        assert answers(reply) == ["ftp.coredns.rocks. 300 IN A 192.0.2.2"]


def test_explicit_answer_name_rewrite() -> None:
    rules = (
        "    rewrite stop {\n"
        r"        name regex (.*)-(us-west-1)\.coredns\.rocks {1}.service.{2}.consul"
        "\n"
        r"        answer name (.*)\.service\.(us-west-1)\.consul {1}-{2}.coredns.rocks"
        "\n"
        "    }"
    )
    with serving(rules) as (srv, up):
        reply = srv.udp("ftp-us-west-1.coredns.rocks.", "A")
        assert answers(reply) == [
            "ftp-us-west-1.coredns.rocks. 300 IN A 10.10.10.10",
            "ftp-us-west-1.coredns.rocks. 300 IN A 10.20.20.20",
            "ftp-us-west-1.coredns.rocks. 300 IN A 10.30.30.30",
        ]


def test_ptr_value_rewrite() -> None:
    table = {"30.30.30.10.in-addr.arpa. PTR": ["ftp-us-west-1.service.consul."]}
    rules = (
        "    rewrite stop {\n"
        "        name suffix .arpa .arpa\n"
        "        answer name auto\n"
        r"        answer value (.*)\.service\.consul\. {1}.coredns.rocks."
        "\n"
        "    }"
    )
    with serving(rules, table) as (srv, _):
        reply = srv.udp("30.30.30.10.in-addr.arpa.", "PTR")
        assert answers(reply) == [
            "30.30.30.10.in-addr.arpa. 300 IN PTR ftp-us-west-1.coredns.rocks."
        ]


def test_exact_rewrite_always_maps_the_answer_back() -> None:
    with serving("    rewrite name exact RED BLUE") as (srv, up):
        reply = srv.udp("red.", "A")
        assert asked(up) == ["blue. A"]
        assert answers(reply) == ["red. 300 IN A 192.0.2.3"]
        # 0x20: the client sees its own question and, through compression, its own case
        mixed = srv.udp("ReD.", "A")
        assert mixed.question[0].name.to_text() == "ReD."
        assert [rrset.name.to_text() for rrset in mixed.answer] == ["ReD."]


# -- TTL and RCODE (README) --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "upstream_ttl", "expected"),
    [
        (r"rewrite continue {\n ttl regex (.*)\.coredns\.rocks 15\n }", 300, 15),
        ("rewrite ttl www.coredns.rocks. 30-300", 10, 30),
        ("rewrite ttl www.coredns.rocks. 30-300", 500, 300),
        ("rewrite ttl www.coredns.rocks. 30-300", 100, 100),
        ("rewrite ttl www.coredns.rocks. -30", 100, 30),
        ("rewrite ttl www.coredns.rocks. 30-", 10, 30),
        ("rewrite ttl www.coredns.rocks. 30-", 1000, 1000),
        ("rewrite ttl www.coredns.rocks. 30", 1000, 30),
        ("rewrite ttl other.coredns.rocks. 30", 1000, 1000),  # not matched
    ],
)
def test_ttl_rewrites(rule: str, upstream_ttl: int, expected: int) -> None:
    with started(records({"www.coredns.rocks. A": ["192.0.2.5"]}, ttl=upstream_ttl)) as upstream:
        body = rule.replace(r"\n", "\n")
        corefile = f".:0 {{\n bind 127.0.0.1\n {body}\n forward . {upstream.address}\n}}\n"
        with running(corefile) as srv:
            assert srv.udp("www.coredns.rocks.", "A").answer[0].ttl == expected


@pytest.mark.parametrize(
    "rule",
    [
        r"rewrite continue {\n rcode regex (.*)\.coredns\.rocks NXDOMAIN NOERROR\n }",
        r"rewrite continue {\n rcode regex (.*)\.coredns\.rocks 3 0\n }",
        "rewrite rcode nope.coredns.rocks NXDOMAIN NOERROR",
    ],
)
def test_rcode_rewrites(rule: str) -> None:
    with serving("    " + rule.replace(r"\n", "\n")) as (srv, _):
        reply = srv.udp("nope.coredns.rocks.", "A")
        assert reply.rcode() == dns.rcode.NOERROR
        assert reply.authority  # the upstream's SOA is still there


def test_rcode_rewrite_applies_to_an_unanswered_servfail() -> None:
    corefile = ".:0 {\n bind 127.0.0.1\n rewrite rcode x.test SERVFAIL REFUSED\n}\n"
    with running(corefile) as srv:  # no next plugin: the chain ends in SERVFAIL
        reply = srv.udp("x.test.", "A")
        assert reply.rcode() == dns.rcode.REFUSED
        assert reply.question[0].name.to_text() == "x.test."
        assert srv.udp("y.test.", "A").rcode() == dns.rcode.SERVFAIL


# -- type and class --------------------------------------------------------------------------------


def test_type_and_class_rewrites() -> None:
    with serving("    rewrite type ANY HINFO\n    rewrite class CH IN") as (srv, up):
        reply = srv.tcp("example.org.", "ANY")
        assert dns.rdatatype.to_text(reply.question[0].rdtype) == "ANY"
        assert [rrset.rdtype for rrset in reply.answer] == [dns.rdatatype.HINFO]
        srv.udp("www.google.com.", "A", rdclass="CH")
        assert asked(up)[-1] == "www.google.com. A"


# -- several rules ---------------------------------------------------------------------------------


def test_continue_goes_on_and_stop_ends_the_rules() -> None:
    rules = (
        "    rewrite continue name exact a.test b.test\n"
        "    rewrite name exact b.test c.test\n"
        "    rewrite name exact c.test d.test"
    )
    with serving(rules) as (srv, up):
        reply = srv.udp("a.test.", "A")
        assert asked(up) == ["c.test. A"]  # the stop after b->c kept c->d from running
        assert answers(reply) == ["a.test. 300 IN A 192.0.2.4"]  # mapped back through both rules
        srv.udp("c.test.", "A")
        assert asked(up)[-1] == "d.test. A"


# -- EDNS0 ------------------------------------------------------------------------------------------


class OptionsSeen:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.options: list[list[dns.edns.Option]] = []

    def __call__(self, query: dns.message.Message, transport: str) -> dns.message.Message:
        with self.lock:
            self.options.append(list(query.options))
        reply = dns.message.make_response(query)
        reply.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN", "A", "192.0.2.9"))
        return reply


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("rewrite edns0 local set 0xffee 0x61626364", (0xFFEE, b"abcd")),
        ("rewrite edns0 local set 0xffee abcd", (0xFFEE, b"abcd")),
        ("rewrite edns0 local set 0xffee {client_ip}", (0xFFEE, bytes([127, 0, 0, 1]))),
        ("rewrite edns0 local set 0xffee {protocol}", (0xFFEE, b"udp")),
        ("rewrite edns0 local set 0xffee {qtype}", (0xFFEE, b"\x00\x01")),
        ("rewrite edns0 nsid set", (3, b"")),
    ],
)
def test_edns0_local_and_nsid_reach_the_upstream(rule: str, expected: tuple[int, bytes]) -> None:
    seen = OptionsSeen()
    with started(seen) as upstream:
        corefile = f".:0 {{\n bind 127.0.0.1\n {rule}\n forward . {upstream.address}\n}}\n"
        with running(corefile) as srv:
            srv.udp("example.org.", "A")
    assert [(o.otype, o.to_wire()) for o in seen.options[-1]] == [expected]


def test_edns0_subnet_and_unset() -> None:
    seen = OptionsSeen()
    with started(seen) as upstream:
        corefile = f".:0 {{\n bind 127.0.0.1\n rewrite edns0 subnet set 24 56\n forward . {upstream.address}\n}}\n"
        with running(corefile) as srv:
            srv.udp("example.org.", "A")
        (ecs,) = seen.options[-1]
        assert isinstance(ecs, dns.edns.ECSOption)
        assert (ecs.address, ecs.srclen) == ("127.0.0.0", 24)
        corefile = f".:0 {{\n bind 127.0.0.1\n rewrite edns0 local unset 0xffee\n forward . {upstream.address}\n}}\n"
        with running(corefile) as srv:
            option = dns.edns.GenericOption(0xFFEE, b"x")
            srv.udp("example.org.", "A", use_edns=0, options=[option])
        assert seen.options[-1] == []


def test_edns0_revert_takes_the_option_out_of_the_reply() -> None:
    def echo(query: dns.message.Message, transport: str) -> dns.message.Message:
        reply = dns.message.make_response(query)  # echoes the query's OPT options
        reply.use_edns(0, 0, 1232, options=list(query.options))
        return reply

    with started(echo) as upstream:
        for revert, expected in (("", [0xFFEE]), (" revert", [])):
            rule = f"rewrite edns0 local set 0xffee abcd{revert}"
            corefile = f".:0 {{\n bind 127.0.0.1\n {rule}\n forward . {upstream.address}\n}}\n"
            with running(corefile) as srv:
                reply = srv.udp("example.org.", "A", use_edns=0)
                assert [o.otype for o in reply.options] == expected


# -- memo lifetimes and errors --------------------------------------------------------------------


def run_rule(rule: str, name: str = "a.test.") -> tuple[Reply, list[str]]:
    (block,) = parse(f".:53 {{\n {rule}\n}}\n", "Corefile")
    plugin = setup(
        block.directives[0],
        SetupContext(keys=(".",), zones=(".",), port=53, config_file="Corefile"),
    )
    seen: list[str] = []

    async def next_handler(request: Request) -> Reply:
        seen.append(request.name)
        message = dns.message.from_wire(request.query.data)
        reply = dns.message.make_response(message)
        reply.answer.append(dns.rrset.from_text(request.name, 60, "IN", "A", "10.0.0.1"))
        return Reply(reply.to_wire(), 0, "hosts", FOREVER)

    query = parse_query(dns.message.make_query(name, "A", use_edns=0).to_wire())
    request = Request(query, "udp", ("10.1.2.3", 5353), "dns://:53", ".", 0.0)
    return asyncio.run(plugin.serve(request, next_handler)), seen


@pytest.mark.parametrize(
    ("rule", "memo_until"),
    [
        ("rewrite name exact a.test b.test", FOREVER),  # a function of the query bytes
        ("rewrite ttl a.test 30", FOREVER),
        ("rewrite edns0 local set 0xffee abcd", FOREVER),
        ("rewrite edns0 local set 0xffee {qname}", FOREVER),
        ("rewrite edns0 local set 0xffee {client_ip}", 0.0),  # depends on who asks
        ("rewrite edns0 local set 0xffee {client_port}", 0.0),
        ("rewrite edns0 subnet set 24 56", 0.0),
        ("rewrite name exact other.test b.test", FOREVER),  # not matched: passed through
    ],
)
def test_memo_lifetime_follows_what_the_rewrite_depends_on(rule: str, memo_until: float) -> None:
    reply, _ = run_rule(rule)
    assert reply.memo_until == memo_until


def test_invalid_name_after_rewrite_is_servfail() -> None:
    reply, seen = run_rule(
        r"rewrite name regex (.*)\.test\. {1}{1}{1}{1}{1}{1}{1}{1}{1}{1}{1}.test",
        "a" * 60 + ".test.",
    )
    assert reply.wire is None and reply.rcode == dns.rcode.SERVFAIL
    assert seen == []


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            "rewrite name regex ([a-z test",
            r"plugin/rewrite: Corefile:2: invalid regex matching pattern",
        ),
        (r"rewrite name regex (.*)\.a {1}.{2}.b", r"uses more subexpressions"),
        ("rewrite name foo a b", r"received: foo"),
        ("rewrite name a", r"too few arguments for a name rule"),
        ("rewrite frobnicate a b", r"invalid rule type 'frobnicate'"),
        ("rewrite ttl a.test -", r"invalid TTL '-'"),
        ("rewrite ttl a.test 50-10", r"invalid TTL '50-10'"),
        ("rewrite rcode a.test NOPE NOERROR", r"invalid matching RCODE 'NOPE'"),
        ("rewrite type A", r"type rules must have exactly two arguments"),
        ("rewrite class XX IN", r"invalid class 'XX'"),
        ("rewrite edns0 local set 0xffee {nope}", r"unsupported variable name"),
        ("rewrite edns0 subnet set 33 56", r"invalid IPv4 bit mask length 33"),
        ("rewrite stop", r"stop rule must begin with a rule type"),
        ("rewrite answer name a b", r"response rewrites must begin with a name rule"),
        ("rewrite name exact a b answer auto answer name x y", r"cannot be combined"),
    ],
)
def test_bad_rules_are_refused_at_start(rule: str, message: str) -> None:
    text = f".:0 {{\n {rule}\n}}\n"
    with pytest.raises(ConfigError, match=message):
        Server(text, "Corefile", default_port=0).plan(text)
