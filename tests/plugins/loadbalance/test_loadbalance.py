"""loadbalance: A/AAAA/MX shuffled per reply, CNAMEs first, never memoized; parse errors."""

from __future__ import annotations

import random

import dns.message
import dns.rrset
import pytest

from clusterdns.corefile.model import Directive
from clusterdns.errors import ConfigError
from clusterdns.plugins.loadbalance.setup import setup
from clusterdns.plugins.loadbalance.shuffle import shuffle
from clusterdns.plugins.plugin import SetupContext
from tests.support.serverutil import running


def reply_with(*rrsets: dns.rrset.RRset, rcode: int = 0) -> bytes:
    query = dns.message.make_query("www.example.", "A")
    reply = dns.message.make_response(query)
    reply.answer.extend(rrsets)
    reply.set_rcode(rcode)
    return reply.to_wire()


ADDRESSES = [f"10.0.0.{i}" for i in range(1, 7)]


def orders(wire: bytes, tries: int = 30) -> set[tuple[str, ...]]:
    rng = random.Random(7)
    seen = set()
    for _ in range(tries):
        shuffled = shuffle(wire, rng)
        assert shuffled is not None
        message = dns.message.from_wire(shuffled)
        seen.add(tuple(str(rr) for rrset in message.answer for rr in rrset))
    return seen


def test_addresses_are_shuffled_and_kept() -> None:
    wire = reply_with(dns.rrset.from_text_list("www.example.", 30, "IN", "A", ADDRESSES))
    seen = orders(wire)
    assert len(seen) > 1
    assert all(sorted(order) == sorted(ADDRESSES) for order in seen)


def test_cname_stays_first_when_mixed() -> None:
    wire = reply_with(
        dns.rrset.from_text("www.example.", 30, "IN", "CNAME", "web.example."),
        dns.rrset.from_text_list("web.example.", 30, "IN", "A", ADDRESSES),
    )
    seen = orders(wire)
    assert len(seen) > 1
    assert all(order[0] == "web.example." for order in seen)


@pytest.mark.parametrize(
    "wire",
    [
        reply_with(dns.rrset.from_text("www.example.", 30, "IN", "A", "10.0.0.1")),
        reply_with(dns.rrset.from_text_list("www.example.", 30, "IN", "A", ADDRESSES), rcode=3),
        reply_with(dns.rrset.from_text_list("www.example.", 30, "IN", "TXT", ['"a"', '"b"'])),
    ],
)
def test_nothing_to_shuffle(wire: bytes) -> None:
    assert shuffle(wire, random.Random(1)) is None


def test_served_replies_vary_and_are_not_memoized() -> None:
    hosts = "\n".join(f"        {a} many.example" for a in ADDRESSES)
    text = f".:0 {{\n    bind 127.0.0.1\n    loadbalance\n    hosts {{\n{hosts}\n    }}\n}}\n"
    with running(text) as srv:
        seen = {tuple(str(rr) for rr in srv.udp("many.example.").answer[0]) for _ in range(20)}
    assert len(seen) > 1


def test_unknown_policy_is_an_error() -> None:
    ctx = SetupContext(keys=(".",), zones=(".",), port=53, config_file="Corefile")
    with pytest.raises(ConfigError, match="unknown policy: weighted"):
        setup(Directive("loadbalance", ("weighted",), (), "Corefile", 3), ctx)
