"""forward against CoreDNS's own test tables (plugin/forward/*_test.go, CoreDNS 1.14.7).

Parse cases go through the whole Corefile plan, so a refusal names file and
line; serving cases run a real server on loopback in front of local upstreams.
Left out on purpose (see the README): ``https://`` (DoH) and host-name TOs,
which CoreDNS accepts and clusterdns refuses.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rrset
import pytest

from clusterdns.errors import ConfigError
from clusterdns.plugins.forward.handler import Forward
from clusterdns.plugins.forward.options import ForwardConfig
from clusterdns.server.server import Server
from tests.support.serverutil import running
from tests.support.upstream import started


def plan_forward(body: str) -> list[ForwardConfig]:
    text = f".:0 {{\n{body}\n}}\n"
    configs = []
    for block in Server(text, "Corefile", default_port=0).plan(text):
        configs += [p.config for p in block.plugins if isinstance(p, Forward)]
    return configs


def refused(body: str) -> str:
    with pytest.raises(ConfigError) as caught:
        plan_forward(body)
    message = str(caught.value)
    assert message.startswith("plugin/forward: Corefile:"), message
    return message


# setup_test.go TestSetup: (input, from, max_fails, force_tcp, prefer_udp, hc domain)
SETUP_OK = [
    ("forward . 127.0.0.1", ".", 2, False, False, "."),
    ("forward . 127.0.0.1 {\nhealth_check 0.5s domain example.org\n}", ".", 2, False, False, "example.org."),
    ("forward . 127.0.0.1 {\nexcept miek.nl\n}", ".", 2, False, False, "."),
    ("forward . 127.0.0.1 {\nmax_fails 3\n}", ".", 3, False, False, "."),
    ("forward . 127.0.0.1 {\nforce_tcp\n}", ".", 2, True, False, "."),
    ("forward . 127.0.0.1 {\nprefer_udp\n}", ".", 2, False, True, "."),
    ("forward . 127.0.0.1 {\nforce_tcp\nprefer_udp\n}", ".", 2, True, True, "."),
    ("forward . 127.0.0.1:53", ".", 2, False, False, "."),
    ("forward . 127.0.0.1:8080", ".", 2, False, False, "."),
    ("forward . [::1]:53", ".", 2, False, False, "."),
    ("forward . [2003::1]:53", ".", 2, False, False, "."),
    ("forward . 127.0.0.1 \n", ".", 2, False, False, "."),
    ("forward 10.9.3.0/18 127.0.0.1", "0.9.10.in-addr.arpa.", 2, False, False, "."),
    ("forward . ::1\nforward com ::2", ".", 2, False, False, "."),
    ("forward . tls://[2400:3200::1%dns.alidns.com]:853 {\ntls\n}", ".", 2, False, False, "."),
]  # fmt: skip


@pytest.mark.parametrize(("body", "zone", "fails", "tcp", "udp", "domain"), SETUP_OK)
def test_setup_accepts(body: str, zone: str, fails: int, tcp: bool, udp: bool, domain: str) -> None:
    config = plan_forward(body)[0]
    got = (config.from_zone, config.max_fails, config.force_tcp, config.prefer_udp)
    assert got == (zone, fails, tcp, udp)
    assert config.hc_domain == domain


@pytest.mark.parametrize(
    "body",
    [
        "forward . https://1.1.1.1/",
        "forward . a27.0.0.1",
        "forward . 127.0.0.1 {\nblaatl\n}",
        "forward . 127.0.0.1 {\nhealth_check 0.5s domain\n}",
        "forward " + "x" * 64 + " 127.0.0.1",
        # TestSetupTLS: both a per-upstream and a forward-wide server name
        "forward . tls://127.0.0.1%example.net:854 {\ntls_servername foo\n}",
        # at most 15 upstreams (forward.go max)
        "forward . " + " ".join(f"127.0.0.{i}" for i in range(1, 17)),
    ],
)
def test_setup_refuses(body: str) -> None:
    refused(body)


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ("forward . tls://127.0.0.1 {\ntls_servername dns\n}", [""]),
        ("forward . tls://127.0.0.1%example.net {\ntls\n}", ["example.net"]),
        (
            "forward . tls://127.0.0.1%example.net:854 tls://127.0.0.2%example.net tls://fe80::1%example.com {\ntls\n}",
            ["example.net", "example.net", "example.com"],
        ),
        ("forward . tls://127.0.0.1%example.net:854 {\ntls\n}", ["example.net"]),
        ("forward . 127.0.0.1 {\ntls_servername dns\n}", [""]),
        ("forward . 127.0.0.1 {\ntls\n}", [""]),
        ("forward . tls://127.0.0.1", [""]),
        ("forward . tls://[2400:3200::1%dns.alidns.com]:853 {\ntls\n}", ["dns.alidns.com"]),
        ("forward . tls://[2400:3200::1]:853 {\ntls\ntls_servername dns.alidns.com\n}", [""]),
    ],
)
def test_setup_tls(body: str, names: list[str]) -> None:
    """setup_test.go TestSetupTLS: the server name each upstream checks."""
    config = plan_forward(body)[0]
    assert [u.server_name for u in config.to] == names
    if "tls_servername" in body:
        assert config.tls_servername in ("dns", "dns.alidns.com")


def test_setup_tls_ports() -> None:
    config = plan_forward(
        "forward . tls://127.0.0.1%example.net:854 tls://[2400:3200::1%dns.alidns.com]:853"
    )[0]
    assert [(u.host, u.port, u.transport) for u in config.to] == [
        ("127.0.0.1", 854, "tls"),
        ("2400:3200::1", 853, "tls"),
    ]


def test_setup_resolvconf(tmp_path: Path) -> None:
    """setup_test.go TestSetupResolvconf."""
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 10.10.255.252\nnameserver 10.10.255.253\n")
    ipv6 = tmp_path / "resolv-ipv6.conf"
    ipv6.write_text("nameserver 0388:d254:7aec:6892:9f7f:e93b:5806:1b0f%en0\n")
    empty = tmp_path / "empty.conf"
    empty.write_text("# nameserver 1.1.1.1\n# nameserver 1.0.0.1\n")
    null = tmp_path / "null.conf"
    null.write_text("")

    def labels(body: str) -> list[str]:
        return [u.label for u in plan_forward(body)[0].to]

    assert labels(f"forward . {resolv}") == ["10.10.255.252:53", "10.10.255.253:53"]
    assert "no valid upstream addresses found" in refused(f"forward . {null}")
    assert labels(f"forward . {ipv6}") == ["[0388:d254:7aec:6892:9f7f:e93b:5806:1b0f]:53"]
    assert labels(f"forward . {empty} 127.0.0.1") == ["127.0.0.1:53"]


# (option line, accepted, field, value): TestSetupMaxConcurrent, TestSetupMaxConnectAttempts,
# TestSetupMaxIdleConns, TestSetupMaxAge, TestSetupReadTimeout, TestSourceAddress,
# TestFailfastAllUnhealthyUpstreams
OPTIONS = [
    ("max_concurrent 1000", True, "max_concurrent", 1000),
    ("max_concurrent many", False, "", None),
    ("max_concurrent -4", False, "", None),
    ("", True, "max_connect_attempts", None),
    ("max_connect_attempts 0", True, "max_connect_attempts", 0),
    ("max_connect_attempts 5", True, "max_connect_attempts", 5),
    ("max_connect_attempts many", False, "", None),
    ("max_connect_attempts -4", False, "", None),
    ("", True, "max_idle_conns", 0),
    ("max_idle_conns 10", True, "max_idle_conns", 10),
    ("max_idle_conns 0", True, "max_idle_conns", 0),
    ("max_idle_conns many", False, "", None),
    ("max_idle_conns -1", False, "", None),
    ("", True, "max_age", 0.0),
    ("max_age 30s", True, "max_age", 30.0),
    ("expire 10s\nmax_age 10s", True, "max_age", 10.0),
    ("max_age 0s", True, "max_age", 0.0),
    ("max_age -1s", False, "", None),
    ("max_age invalid", False, "", None),
    ("expire 30s\nmax_age 10s", False, "", None),
    ("", True, "read_timeout", 2.0),
    ("read_timeout 5s", True, "read_timeout", 5.0),
    ("read_timeout 500ms", True, "read_timeout", 0.5),
    ("read_timeout 0s", False, "", None),
    ("read_timeout -1s", False, "", None),
    ("read_timeout invalid", False, "", None),
    ("read_timeout", False, "", None),
    ("source_address 192.0.2.1", True, "source_address", "192.0.2.1"),
    ("source_address not-an-ip", False, "", None),
    ("source_address 2001:0db8:85a3:0000:1319:8a2e:0370:7344", True, "source_address", "2001:db8:85a3:0:1319:8a2e:370:7344"),
    ("source_address ::ffff:192.0.2.1", True, "source_address", "192.0.2.1"),
    ("source_address", False, "", None),
    ("failfast_all_unhealthy_upstreams", True, "failfast_all_unhealthy_upstreams", True),
    ("failfast_all_unhealthy_upstreams false", False, "", None),
    ("next_on_nodata", True, "next_on_nodata", True),
    ("next_on_nodata extra", False, "", None),
]  # fmt: skip


@pytest.mark.parametrize(("line", "accepted", "field", "value"), OPTIONS)
def test_setup_options(line: str, accepted: bool, field: str, value: object) -> None:
    body = f"forward . 127.0.0.1 {{\n{line}\n}}"
    if accepted:
        assert getattr(plan_forward(body)[0], field) == value
    else:
        refused(body)


# setup_test.go TestSetupHealthCheck: (option, accepted, RD on the probe, probe domain)
HEALTH = [
    ("", True, True, "."),
    ("health_check 0.5s", True, True, "."),
    ("health_check 0.5s no_rec", True, False, "."),
    ("health_check 0.5s no_rec domain example.org", True, False, "example.org."),
    ("health_check 0.5s domain example.org", True, True, "example.org."),
    ("health_check 0.5s domain .", True, True, "."),
    ("health_check 0.5s domain example.org.", True, True, "example.org."),
    ("health_check no_rec", False, True, "."),
    ("health_check domain example.org", False, True, "."),
    ("health_check 0.5s rec", False, True, "."),
    ("health_check 0.5s domain", False, True, "."),
    ("health_check 0.5s domain example..org", False, True, "."),
]


@pytest.mark.parametrize(("line", "accepted", "rec", "domain"), HEALTH)
def test_setup_health_check(line: str, accepted: bool, rec: bool, domain: str) -> None:
    body = f"forward . 127.0.0.1 {{\n{line}\n}}"
    if not accepted:
        refused(body)
        return
    config = plan_forward(body)[0]
    assert (config.hc_recursion_desired, config.hc_domain) == (rec, domain)


@pytest.mark.parametrize(
    ("line", "rcodes"),
    [
        ("next NXDOMAIN", (3,)),
        ("next SERVFAIL", (2,)),
        ("next NXDOMAIN SERVFAIL", (3, 2)),
        ("next NXDOMAIN SERVFAIL REFUSED", (3, 2, 5)),
        ("next", None),
        ("next INVALID", None),
        ("next NXDOMAIN INVALID", None),
        ("failover NOERROR", None),
        ("failover NOT_A_VALID_RCODE", None),
    ],
)
def test_setup_next_and_failover(line: str, rcodes: tuple[int, ...] | None) -> None:
    """setup_test.go TestNextAlternate and TestFailoverValidation."""
    body = f"forward . 127.0.0.1 {{\n{line}\n}}"
    if rcodes is None:
        refused(body)
    else:
        assert plan_forward(body)[0].next_rcodes == rcodes


def test_multi_forward_keeps_the_order() -> None:
    """setup_test.go TestMultiForward."""
    body = "forward 1st.example.org 10.0.0.1\nforward 2nd.example.org 10.0.0.2\nforward 3rd.example.org 10.0.0.3"
    assert [c.from_zone for c in plan_forward(body)] == [
        "1st.example.org.",
        "2nd.example.org.",
        "3rd.example.org.",
    ]


# -- serving ----------------------------------------------------------------------------------


def corefile(*lines: str) -> str:
    body = "\n    ".join(lines)
    return f".:0 {{\n    bind 127.0.0.1\n    {body}\n}}\n"


def a_answer(address: str = "127.0.0.1") -> object:
    def answer(query: dns.message.Message, transport: str) -> dns.message.Message:
        reply = dns.message.make_response(query)
        reply.answer.append(dns.rrset.from_text(query.question[0].name, 300, "IN", "A", address))
        return reply

    return answer


def rcode_answer(rcode: int) -> object:
    def answer(query: dns.message.Message, transport: str) -> dns.message.Message:
        reply = dns.message.make_response(query)
        reply.set_rcode(rcode)
        return reply

    return answer


def empty_answer(query: dns.message.Message, transport: str) -> dns.message.Message:
    return dns.message.make_response(query)


def test_reply_id_and_question_case_restored() -> None:
    """proxy_test.go TestProxy: the client's ID and question come back."""
    with started(a_answer()) as up, running(corefile(f"forward . {up.address}")) as srv:
        query = dns.message.make_query("ExAmPle.ORG.", "A")
        reply = dns.query.udp(query, srv.host, port=srv.port, timeout=3)
        assert reply.id == query.id
        assert reply.question[0].name.to_text() == "ExAmPle.ORG."
        assert [r.to_text() for r in reply.answer[0]] == ["127.0.0.1"]


@pytest.mark.parametrize(("next_on_nodata", "answers"), [(False, 0), (True, 1)])
def test_next_on_nodata(next_on_nodata: bool, answers: int) -> None:
    """forward_test.go TestForward_NextOnNodata."""
    with started(empty_answer) as s1, started(a_answer()) as s2:
        first = f"forward . {s1.address}" + (" {\n next_on_nodata\n }" if next_on_nodata else "")
        with running(corefile(first, f"forward . {s2.address}")) as srv:
            reply = srv.udp("example.org.")
            assert reply.rcode() == dns.rcode.NOERROR
            assert len(reply.answer) == answers


def test_failover_stops_after_all_upstreams() -> None:
    """forward_test.go TestForwardFailoverStopsAfterAllUpstreams: each asked once, last reply."""
    with (
        started(rcode_answer(dns.rcode.SERVFAIL)) as s1,
        started(rcode_answer(dns.rcode.SERVFAIL)) as s2,
    ):
        line = (
            f"forward . {s1.address} {s2.address} {{\n policy sequential\n failover SERVFAIL\n }}"
        )
        with running(corefile(line)) as srv:
            assert srv.udp("example.org.").rcode() == dns.rcode.SERVFAIL
            assert (s1.count(), s2.count()) == (1, 1)


@pytest.mark.parametrize(
    ("failover", "has_record"), [(True, True), (False, False)], ids=["failover", "no failover"]
)
def test_failover(failover: bool, has_record: bool) -> None:
    """setup_test.go TestFailover: SERVFAIL, REFUSED, then a good upstream, in sequence."""
    with (
        started(rcode_answer(dns.rcode.SERVFAIL)) as bad,
        started(rcode_answer(dns.rcode.REFUSED)) as refusing,
        started(a_answer()) as good,
    ):
        options = "\n policy sequential\n" + (" failover ServFail Refused\n" if failover else "")
        line = f"forward . {bad.address} {refusing.address} {good.address} {{{options} }}"
        with running(corefile(line)) as srv:
            assert bool(srv.udp("example.org.").answer) is has_record


def test_all_upstreams_down_failfast_and_random_pick() -> None:
    """health_test.go TestAllUpstreamsDown: failfast answers SERVFAIL without asking anyone."""
    silent_seen: list[str] = []

    def silent(query: dns.message.Message, transport: str) -> None:
        silent_seen.append(query.question[0].name.to_text())

    with started(silent) as s1, started(silent) as s2:
        line = (
            f"forward . {s1.address} {s2.address} {{\n max_fails 1\n health_check 10s\n"
            " failfast_all_unhealthy_upstreams\n read_timeout 100ms\n }"
        )
        with running(corefile(line)) as srv:
            forward = next(
                p for b in srv.server.blocks for p in b.plugins if isinstance(p, Forward)
            )
            for upstream in forward.upstreams:
                upstream.fails = 2  # fails > max_fails: down
            before = len([n for n in silent_seen if n != "."])
            assert srv.udp("example.org.").rcode() == dns.rcode.SERVFAIL
            assert len([n for n in silent_seen if n != "."]) == before


def test_max_concurrent_refuses() -> None:
    """setup_test.go TestSetupMaxConcurrent / README: over the limit is REFUSED.

    The upstream holds the first query until the second was refused, so the
    two overlap however loaded the machine is.
    """
    release = threading.Event()

    def held(query: dns.message.Message, transport: str) -> dns.message.Message:
        release.wait(10)
        return empty_answer(query, transport)

    limited = "max_concurrent 1"
    with (
        started(held) as up,
        running(corefile(f"forward . {up.address} {{\n {limited}\n }}")) as srv,
    ):
        results: list[int] = []

        def ask(name: str) -> None:
            results.append(srv.udp(name).rcode())

        first = threading.Thread(target=ask, args=("q0.example.",))
        first.start()
        try:
            deadline = time.monotonic() + 10
            while up.count() < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert up.count() == 1, "the first query never reached the upstream"
            ask("q1.example.")
        finally:
            release.set()
        first.join(10)
        assert results == [dns.rcode.REFUSED, dns.rcode.NOERROR]


def test_prefer_udp_retries_truncated_over_tcp_and_default_passes_tc() -> None:
    """forward.go: a truncated reply is retried over TCP only with prefer_udp."""

    def big(query: dns.message.Message, transport: str) -> dns.message.Message:
        reply = dns.message.make_response(query)
        if transport == "udp":
            reply.flags |= dns.flags.TC
        else:
            reply.answer.append(
                dns.rrset.from_text(query.question[0].name, 300, "IN", "A", "127.0.0.1")
            )
        return reply

    with started(big) as up:
        with running(corefile(f"forward . {up.address}")) as srv:
            assert srv.udp("example.org.").flags & dns.flags.TC
            assert up.count("tcp") == 0
        with running(corefile(f"forward . {up.address} {{\n prefer_udp\n }}")) as srv:
            reply = srv.udp("example.org.")
            assert not reply.flags & dns.flags.TC and len(reply.answer) == 1
            assert up.count("tcp") == 1


def test_source_address_binds_upstream_sockets() -> None:
    """setup_test.go TestSourceAddress: queries leave from the configured address."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    seen: list[str] = []

    def serve() -> None:
        try:
            data, peer = sock.recvfrom(4096)
        except OSError:
            return
        seen.append(peer[0])
        reply = dns.message.make_response(dns.message.from_wire(data))
        sock.sendto(reply.to_wire(), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    port = sock.getsockname()[1]
    try:
        line = f"forward . 127.0.0.1:{port} {{\n source_address 127.0.0.7\n max_fails 0\n }}"
        with running(corefile(line)) as srv:
            srv.udp("example.org.")
        thread.join(5)
        assert seen == ["127.0.0.7"]
    finally:
        sock.close()
