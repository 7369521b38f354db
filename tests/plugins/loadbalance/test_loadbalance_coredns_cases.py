"""loadbalance against CoreDNS's test tables (plugin/loadbalance/*_test.go, CoreDNS 1.14.7).

A real server with ``loadbalance`` in front of ``forward`` to a local upstream
that answers with the canned sections; the checks are those of CoreDNS's
tables (CNAMEs, then addresses, then MX, with the counts kept), and the
``prefer`` order of prefer_test.go.  ``weighted`` is not built (README).
"""

from __future__ import annotations

import dns.message
import dns.query
import dns.rdatatype
import dns.rrset
import pytest

from clusterdns.errors import ConfigError
from clusterdns.server.server import Server
from tests.support.serverutil import running
from tests.support.upstream import started


def plan(body: str) -> None:
    text = f".:0 {{\n{body}\n}}\n"
    Server(text, "Corefile", default_port=0).plan(text)


@pytest.mark.parametrize(
    ("body", "accepted"),
    [
        ("loadbalance", True),
        ("loadbalance round_robin", True),
        ("loadbalance {\nprefer 10.0.0.0/8 2001:db8::/32\n}", True),
        ("loadbalance fleeb", False),
        ("loadbalance round_robin a", False),
        ("loadbalance {\nprefer 10.0.0.1\n}", False),
        ("loadbalance {\nsusu\n}", False),
    ],
)
def test_setup(body: str, accepted: bool) -> None:
    """setup_test.go TestSetup (round_robin and prefer cases)."""
    if accepted:
        plan(body)
    else:
        with pytest.raises(ConfigError) as caught:
            plan(body)
        assert str(caught.value).startswith("plugin/loadbalance: Corefile:")


def canned(answer: list[str], extra: list[str]) -> object:
    def reply(query: dns.message.Message, transport: str) -> dns.message.Message:
        message = dns.message.make_response(query)
        for section, lines in ((message.answer, answer), (message.additional, extra)):
            for line in lines:
                rrset = dns.rrset.from_text(*line.split(maxsplit=4))
                section.append(rrset)  # one RRset per line, in the given order
        return message

    return reply


def corefile(upstream: str, lb: str = "loadbalance") -> str:
    return f".:0 {{\n    bind 127.0.0.1\n    {lb}\n    forward . {upstream}\n}}\n"


S = "region2.skydns.test."

# loadbalance_test.go TestLoadBalanceRandom: (answer, extra, counts per section (cname, address, mx))
RANDOM = [
    (
        [f"cname1.{S} 300 IN CNAME cname2.{S}", f"cname2.{S} 300 IN CNAME cname3.{S}",
         f"cname5.{S} 300 IN CNAME cname6.{S}", f"cname6.{S} 300 IN CNAME endpoint.{S}",
         f"endpoint.{S} 300 IN A 10.240.0.1", f"mx.{S} 300 IN MX 1 mx1.{S}",
         f"mx.{S} 300 IN MX 2 mx2.{S}", f"mx.{S} 300 IN MX 3 mx3.{S}"],
        [],
        (4, 1, 3),
        (0, 0, 0),
    ),
    (
        [f"endpoint.{S} 300 IN A 10.240.0.1", f"mx.{S} 300 IN MX 1 mx1.{S}",
         f"cname.{S} 300 IN CNAME endpoint.{S}"],
        [],
        (1, 1, 1),
        (0, 0, 0),
    ),
    (
        [f"mx.{S} 300 IN MX 1 mx1.{S}", f"endpoint.{S} 300 IN A 10.240.0.1",
         f"endpoint.{S} 300 IN A 10.240.0.2", f"mx.{S} 300 IN MX 1 mx2.{S}",
         f"cname2.{S} 300 IN CNAME cname3.{S}", f"endpoint.{S} 300 IN A 10.240.0.3",
         f"mx.{S} 300 IN MX 1 mx3.{S}"],
        [f"endpoint.{S} 300 IN A 10.240.0.1", f"endpoint.{S} 300 IN AAAA ::1",
         f"mx.{S} 300 IN MX 1 mx1.{S}", f"cname2.{S} 300 IN CNAME cname3.{S}",
         f"mx.{S} 300 IN MX 1 mx2.{S}", f"endpoint.{S} 300 IN A 10.240.0.3",
         f"endpoint.{S} 300 IN AAAA ::2", f"mx.{S} 300 IN MX 1 mx3.{S}"],
        (1, 3, 3),
        (1, 4, 3),
    ),
]  # fmt: skip

ORDER = {
    dns.rdatatype.CNAME: 0,
    dns.rdatatype.A: 1,
    dns.rdatatype.AAAA: 1,
    dns.rdatatype.MX: 2,
}


def kinds(section: list[dns.rrset.RRset]) -> list[int]:
    return [ORDER[rrset.rdtype] for rrset in section for _ in rrset]


@pytest.mark.parametrize(("answer", "extra", "in_answer", "in_extra"), RANDOM)
def test_round_robin_keeps_cnames_first_then_addresses_then_mx(
    answer: list[str], extra: list[str], in_answer: tuple[int, ...], in_extra: tuple[int, ...]
) -> None:
    with started(canned(answer, extra)) as up, running(corefile(up.address)) as srv:
        for _ in range(5):
            reply = srv.tcp(S, "SRV")
            for section, counts in ((reply.answer, in_answer), (reply.additional, in_extra)):
                order = kinds(section)
                assert order == sorted(order)  # CNAMEs, then addresses, then MX
                assert tuple(order.count(k) for k in (0, 1, 2)) == counts


def test_addresses_do_get_shuffled_and_other_sections_kept() -> None:
    answer = [f"endpoint.{S} 300 IN A 10.240.0.{i}" for i in range(1, 9)]
    with started(canned(answer, [])) as up, running(corefile(up.address)) as srv:
        orders = {tuple(r.to_text() for r in srv.udp(f"endpoint.{S}").answer[0]) for _ in range(10)}
    assert len(orders) > 1


def test_xfr_is_not_shuffled() -> None:
    """loadbalance_test.go TestLoadBalanceXFR: SOA stays first and last."""
    soa = "skydns.test. 30 IN SOA ns.dns.skydns.test. hostmaster.skydns.test. 1542756695 7200 1800 86400 30"
    answer = [soa, f"mx.{S} 300 IN MX 1 mx1.{S}", f"endpoint.{S} 300 IN A 10.240.0.1",
              f"endpoint.{S} 300 IN A 10.240.0.2", f"cname2.{S} 300 IN CNAME cname3.{S}", soa]  # fmt: skip

    def reply(query: dns.message.Message, transport: str) -> dns.message.Message:
        message = dns.message.make_response(query)
        for line in answer:
            message.answer.append(dns.rrset.from_text(*line.split(maxsplit=4)))
        return message

    with started(reply) as up, running(corefile(up.address)) as srv:
        # an AXFR over the forwarder is one message here; the SOA must stay at both ends
        query = dns.message.make_query("skydns.test.", "AXFR")
        got = dns.query.tcp(query, srv.host, port=srv.port, timeout=3, one_rr_per_rrset=True)
        types = [rrset.rdtype for rrset in got.answer]
        assert types[0] == dns.rdatatype.SOA and types[-1] == dns.rdatatype.SOA


def test_prefer_puts_preferred_subnets_first() -> None:
    """prefer_test.go TestSortPreferred: CNAME, then addresses by preferred subnet, then the rest."""
    name = "example.org."
    answer = [
        f"{name} 300 IN A 10.9.30.1",
        f"{name} 300 IN A 10.9.20.5",
        f"{name} 300 IN A 192.168.1.2",
        f"{name} 300 IN A 10.10.0.1",
        f"{name} 300 IN A 10.9.20.3",
        f"{name} 300 IN A 172.16.0.1",
        f"{name} 300 IN AAAA 2001:db8::1",
        f"{name} 300 IN AAAA 2001:db8:abcd::1",
        f"{name} 300 IN AAAA fd00::1",
        f"{name} 300 IN CNAME alias.example.org.",
    ]
    lb = "loadbalance {\n prefer 2001:db8::/32 10.9.20.0/24 10.9.30.0/24\n }"
    with started(canned(answer, [])) as up, running(corefile(up.address, lb)) as srv:
        for _ in range(5):
            query = dns.message.make_query(name, "A")
            reply = dns.query.tcp(query, srv.host, port=srv.port, timeout=3, one_rr_per_rrset=True)
            got = [r.to_text() for rrset in reply.answer for r in rrset]
            assert got[0] == "alias.example.org."
            assert set(got[1:3]) == {"2001:db8::1", "2001:db8:abcd::1"}
            assert set(got[3:5]) == {"10.9.20.5", "10.9.20.3"}
            assert got[5] == "10.9.30.1"
            assert set(got[6:]) == {"192.168.1.2", "10.10.0.1", "172.16.0.1", "fd00::1"}
