"""forward's CoreDNS 1.13 options: max_connect_attempts, failover, failfast, tls://IP%NAME.

Each follows plugin/forward/README.md and forward.go ``ServeDNS``.
"""

from __future__ import annotations

import dns.message
import dns.rcode
import pytest

from clusterdns.corefile.model import Directive
from clusterdns.errors import ConfigError
from clusterdns.plugins.forward.options import UpstreamAddress, parse
from tests.support.serverutil import answers, running
from tests.support.upstream import records, started


def directive(args: str, *options: str) -> Directive:
    block = tuple(
        Directive(o.split()[0], tuple(o.split()[1:]), (), "Corefile", 3 + i)
        for i, o in enumerate(options)
    )
    return Directive("forward", tuple(args.split()), block, "Corefile", 2)


def servfail(query: dns.message.Message, transport: str) -> dns.message.Message:
    reply = dns.message.make_response(query)
    reply.set_rcode(dns.rcode.SERVFAIL)
    return reply


def test_parse_new_options() -> None:
    config = parse(
        directive(
            ". 127.0.0.1 tls://192.0.2.1%dns.example:10853",
            "max_connect_attempts 3",
            "failover SERVFAIL refused",
            "failfast_all_unhealthy_upstreams",
        )
    )
    assert config.max_connect_attempts == 3
    assert config.failover_rcodes == (2, 5)
    assert config.failfast_all_unhealthy_upstreams
    assert config.to[1] == UpstreamAddress("192.0.2.1", 10853, "tls", "dns.example")
    assert parse(directive(". tls://192.0.2.1%dns.example")).to[0].port == 853


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("failover NOERROR",), "plugin/forward: Corefile:3: NoError cannot be used in failover"),
        (("failover",), "failover needs at least one rcode"),
        (("max_connect_attempts -1",), "max_connect_attempts must be between 0"),
        (("failfast_all_unhealthy_upstreams now",), "takes no arguments"),
    ],
)
def test_parse_errors(options: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse(directive(". 127.0.0.1", *options))


def test_per_upstream_server_name_clashes_with_tls_servername() -> None:
    """README: tls_servername must not be given with tls://IP%NAME."""
    with pytest.raises(ConfigError, match="tls_servername"):
        parse(directive(". tls://192.0.2.1%a.example", "tls_servername b.example"))


def test_failover_tries_the_next_upstream_on_a_listed_rcode() -> None:
    with (
        started(servfail) as bad,
        started(records({"web.example. A": ["10.0.0.7"]})) as good,
    ):
        text = (
            ".:0 {\n    bind 127.0.0.1\n"
            f"    forward . {bad.address} {good.address} {{\n"
            "        policy sequential\n        failover SERVFAIL\n    }\n}\n"
        )
        with running(text) as srv:
            assert answers(srv.udp("web.example.")) == ["web.example. 300 IN A 10.0.0.7"]
        assert bad.count() == 1 and good.count() == 1


def test_without_failover_the_first_reply_stands() -> None:
    with started(servfail) as bad, started(records({"web.example. A": ["10.0.0.7"]})) as good:
        text = (
            f".:0 {{\n    bind 127.0.0.1\n    forward . {bad.address} {good.address} {{\n"
            "        policy sequential\n    }\n}\n"
        )
        with running(text) as srv:
            assert srv.udp("web.example.").rcode() == dns.rcode.SERVFAIL
        assert good.count() == 0


def test_failover_when_every_upstream_fails_returns_the_last_reply() -> None:
    with started(servfail) as one, started(servfail) as two:
        text = (
            f".:0 {{\n    bind 127.0.0.1\n    forward . {one.address} {two.address} {{\n"
            "        policy sequential\n        failover SERVFAIL\n    }\n}\n"
        )
        with running(text) as srv:
            assert srv.udp("web.example.").rcode() == dns.rcode.SERVFAIL
        assert one.count() == 1 and two.count() == 1


def silent(query: dns.message.Message, transport: str) -> None:
    return None  # a timeout, as a dead upstream gives


@pytest.mark.parametrize(("option", "expected"), [("max_connect_attempts 1", 1), ("", 4)])
def test_max_connect_attempts_caps_the_tries_per_query(option: str, expected: int) -> None:
    """README: the cap on upstream attempts for one query; default twice the upstreams."""
    with started(silent) as one, started(silent) as two:  # type: ignore[arg-type]
        text = (
            f".:0 {{\n    bind 127.0.0.1\n    forward . {one.address} {two.address} {{\n"
            f"        read_timeout 100ms\n        max_fails 0\n        {option}\n    }}\n}}\n"
        )
        with running(text) as srv:
            assert srv.udp("web.example.").rcode() == dns.rcode.SERVFAIL
        assert one.count() + two.count() == expected


def test_failfast_all_unhealthy_upstreams_answers_servfail_without_trying() -> None:
    """README: with every upstream down (health checks failing), SERVFAIL at once instead
    of sending the query to a random upstream."""
    with started(records({"web.example. A": ["10.0.0.7"]})) as up:
        text = (
            f".:0 {{\n    bind 127.0.0.1\n    forward . {up.address} {{\n"
            "        failfast_all_unhealthy_upstreams\n        max_fails 1\n    }\n}\n"
        )
        with running(text) as srv:
            forward = next(p for b in srv.server.blocks for p in b.plugins if p.name == "forward")
            for upstream in forward.upstreams:  # type: ignore[attr-defined]
                upstream.fails = 5  # what failed health checks leave behind
            assert srv.udp("web.example.").rcode() == dns.rcode.SERVFAIL
        assert up.count() == 0
