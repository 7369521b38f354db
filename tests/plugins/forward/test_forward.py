"""forward: parse tables, and real exchanges with upstreams the tests start on 127.0.0.1."""

from __future__ import annotations

import concurrent.futures
import threading
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rrset
import pytest

from clusterdns.corefile.model import Directive
from clusterdns.errors import ConfigError
from clusterdns.plugins.forward.handler import Forward
from clusterdns.plugins.forward.options import UpstreamAddress, parse
from clusterdns.plugins.forward.setup import read_if_file
from tests.support.serverutil import answers, running
from tests.support.upstream import (
    free_port,
    metric,
    records,
    self_signed,
    server_tls,
    started,
    wait_for,
)

TABLE = {"a.example. A": ["10.0.0.1"], "b.example. A": ["10.0.0.2"]}


def directive(args: str, *options: str, file: str = "Corefile") -> Directive:
    block = tuple(
        Directive(o.split()[0], tuple(o.split()[1:]), (), file, 2 + i)
        for i, o in enumerate(options)
    )
    return Directive("forward", tuple(args.split()), block, file, 1)


def corefile(*lines: str) -> str:
    body = "\n    ".join(lines)
    return f".:0 {{\n    bind 127.0.0.1\n    {body}\n}}\n"


def forward_of(srv: object) -> Forward:
    for block in srv.server.blocks:  # type: ignore[attr-defined]
        for plugin in block.plugins:
            if isinstance(plugin, Forward):
                return plugin
    raise LookupError("no forward plugin")


@pytest.mark.parametrize(
    ("args", "options", "expected"),
    [
        (". 127.0.0.1", (), (UpstreamAddress("127.0.0.1", 53),)),
        ("example.org 127.0.0.1:5353 dns://[::1]:53", (), (UpstreamAddress("127.0.0.1", 5353), UpstreamAddress("::1", 53))),
        (". tls://127.0.0.1", ("tls_servername dns.example",), (UpstreamAddress("127.0.0.1", 853, "tls"),)),
        (". 127.0.0.1 127.0.0.1:53", (), (UpstreamAddress("127.0.0.1", 53),)),
    ],
)  # fmt: skip
def test_parse_upstreams(
    args: str, options: tuple[str, ...], expected: tuple[UpstreamAddress, ...]
) -> None:
    assert parse(directive(args, *options)).to == expected


@pytest.mark.parametrize(
    ("options", "field", "value"),
    [
        (("policy sequential",), "policy", "sequential"),
        (("max_fails 0",), "max_fails", 0),
        (("max_concurrent 10",), "max_concurrent", 10),
        (("expire 30s",), "expire", 30.0),
        (("health_check 1s no_rec",), "hc_recursion_desired", False),
        (("except foo.org Bar.org",), "ignored", ("foo.org.", "bar.org.")),
        (("next NXDOMAIN servfail",), "next_rcodes", (3, 2)),
        (("force_tcp",), "force_tcp", True),
        (("prefer_udp",), "prefer_udp", True),
    ],
)
def test_parse_options(options: tuple[str, ...], field: str, value: object) -> None:
    assert getattr(parse(directive(". 127.0.0.1", *options)), field) == value


@pytest.mark.parametrize(
    ("args", "options", "message"),
    [
        (".", (), "needs FROM and at least one TO"),
        (". not-an-ip", (), "not an IP address or file"),
        (". https://127.0.0.1", (), "'https' is not supported"),
        (". 127.0.0.1", ("policy fastest",), "unknown policy 'fastest'"),
        (". 127.0.0.1", ("next NOPE",), "NOPE is not a valid rcode"),
        (". 127.0.0.1", ("force_tcp yes",), "force_tcp takes no arguments"),
        (". 127.0.0.1", ("frobnicate",), "unknown property 'frobnicate'"),
        (". " + " ".join(f"127.0.0.{i}" for i in range(1, 17)), (), "more than 15 TOs"),
    ],
)
def test_parse_errors_name_file_and_line(args: str, options: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(directive(args, *options))
    assert message in str(caught.value)
    assert str(caught.value).startswith("plugin/forward: Corefile:")


def test_resolv_conf_file_upstreams_are_parsed_from_the_file(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text(
        "# test\nsearch example.org\nnameserver 127.0.0.1\nnameserver ::1\noptions ndots:5\n"
    )
    config = parse(directive(f". {conf}"), read_if_file)
    assert config.to == (UpstreamAddress("127.0.0.1", 53), UpstreamAddress("::1", 53))


def test_forwards_over_udp_and_tcp_keeping_id_and_question_case() -> None:
    with started(records(TABLE)) as up, running(corefile(f"forward . {up.address}")) as srv:
        query = dns.message.make_query("A.ExAmple.", "A")
        reply = dns.query.udp(query, srv.host, port=srv.port, timeout=3)
        assert reply.id == query.id
        assert reply.question[0].name.to_text() == "A.ExAmple."
        assert answers(reply) == ["A.ExAmple. 300 IN A 10.0.0.1"]
        assert answers(srv.tcp("b.example.")) == ["b.example. 300 IN A 10.0.0.2"]
        assert srv.udp("missing.example.").rcode() == dns.rcode.NXDOMAIN
        assert [t for t, _, _ in up.seen] == ["udp", "tcp", "udp"]


def big_answer(query: dns.message.Message, transport: str) -> dns.message.Message:
    reply = dns.message.make_response(query)
    name = query.question[0].name
    reply.answer.append(
        dns.rrset.from_text_list(
            name, 60, "IN", "A", [f"10.0.{i // 250}.{i % 250}" for i in range(60)]
        )
    )
    if transport == "udp":
        reply.flags |= dns.flags.TC
        reply.answer.clear()
    return reply


def test_truncated_udp_reply_reaches_the_client_who_retries_over_tcp() -> None:
    with started(big_answer) as up, running(corefile(f"forward . {up.address}")) as srv:
        assert srv.udp("big.example.").flags & dns.flags.TC
        assert len(srv.tcp("big.example.").answer[0]) == 60
        assert [t for t, _, _ in up.seen] == ["udp", "tcp"]


def test_prefer_udp_retries_a_truncated_reply_over_tcp() -> None:
    with (
        started(big_answer) as up,
        running(corefile(f"forward . {up.address} {{", "prefer_udp", "}")) as srv,
    ):
        assert len(srv.tcp("big.example.").answer[0]) == 60
        assert [t for t, _, _ in up.seen] == ["udp", "tcp"]


def test_force_tcp_reuses_one_pooled_connection() -> None:
    with (
        started(records(TABLE)) as up,
        running(corefile(f"forward . {up.address} {{", "force_tcp", "}")) as srv,
    ):
        for _ in range(5):
            assert answers(srv.udp("a.example.")) == ["a.example. 300 IN A 10.0.0.1"]
        assert up.count("tcp") == 5
        assert up.tcp_accepts == 1
        hits = metric(
            "coredns_proxy_conn_cache_hits_total", proxy_name="forward", to=up.address, proto="tcp"
        )
        assert hits == 4


def test_tls_upstream_with_a_self_signed_certificate(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    with started(records(TABLE), tls=server_tls(cert, key)) as up:
        text = corefile(
            f"forward . tls://{up.address} {{", f"tls {cert}", "tls_servername localhost", "}"
        )
        with running(text) as srv:
            assert answers(srv.udp("a.example.")) == ["a.example. 300 IN A 10.0.0.1"]
            assert answers(srv.udp("b.example.")) == ["b.example. 300 IN A 10.0.0.2"]
        assert up.count("tls") == 2
        assert up.tcp_accepts == 1


def test_tls_upstream_with_an_untrusted_certificate_fails(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    with started(records(TABLE), tls=server_tls(cert, key)) as up:
        text = corefile(
            f"forward . tls://{up.address} {{", "tls_servername localhost", "max_fails 0", "}"
        )
        with running(text) as srv:
            assert srv.udp("a.example.").rcode() == dns.rcode.SERVFAIL
        assert up.count() == 0


def test_dead_upstream_is_taken_out_and_probed_back() -> None:
    dead = free_port()
    with started(records({"a.example. A": ["10.9.9.9"]})) as spare:
        text = corefile(
            f"forward . 127.0.0.1:{dead} {spare.address} {{",
            "policy sequential",
            "max_fails 1",
            "health_check 100ms",
            "}",
        )
        with running(text) as srv:
            first = forward_of(srv).upstreams[0]
            assert answers(srv.udp("a.example.")) == ["a.example. 300 IN A 10.9.9.9"]
            assert wait_for(lambda: first.down(1))
            before = metric(
                "coredns_proxy_healthcheck_failures_total",
                proxy_name="forward",
                to=f"127.0.0.1:{dead}",
            )
            assert before >= 2
            assert answers(srv.udp("a.example.")) == ["a.example. 300 IN A 10.9.9.9"]
            with started(records({"a.example. A": ["10.1.1.1"]}), port=dead) as revived:
                assert wait_for(lambda: first.fails == 0)
                assert answers(srv.udp("a.example.")) == ["a.example. 300 IN A 10.1.1.1"]
                assert revived.count("udp") >= 2  # the probes and the query


def test_policy_sequential_and_round_robin() -> None:
    with started(records(TABLE)) as one, started(records(TABLE)) as two:
        with running(
            corefile(f"forward . {one.address} {two.address} {{", "policy sequential", "}")
        ) as srv:
            for _ in range(4):
                srv.udp("a.example.")
        assert (one.count(), two.count()) == (4, 0)
        with running(
            corefile(f"forward . {one.address} {two.address} {{", "policy round_robin", "}")
        ) as srv:
            for _ in range(4):
                srv.udp("a.example.")
        assert (one.count(), two.count()) == (6, 2)


def test_except_passes_the_query_on() -> None:
    with started(records(TABLE)) as up:
        with running(corefile(f"forward . {up.address} {{", "except example", "}")) as srv:
            assert srv.udp("a.example.").rcode() == dns.rcode.SERVFAIL  # no next plugin
            assert srv.udp("a.example.net.").rcode() == dns.rcode.NXDOMAIN
        assert up.count() == 1


def test_next_nxdomain_hands_the_query_to_the_next_forward() -> None:
    with started(records({})) as empty, started(records(TABLE)) as full:
        text = corefile(
            f"forward . {empty.address} {{", "next NXDOMAIN", "}", f"forward . {full.address}"
        )
        with running(text) as srv:
            assert answers(srv.udp("a.example.")) == ["a.example. 300 IN A 10.0.0.1"]
        assert (empty.count(), full.count()) == (1, 1)


def test_max_concurrent_refuses_and_counts() -> None:
    """The upstream holds the first query until the second has been refused: no race on load."""
    release = threading.Event()

    def held(query: dns.message.Message, transport: str) -> dns.message.Message:
        release.wait(10)
        return records(TABLE)(query, transport)

    before = metric("coredns_forward_max_concurrent_rejects_total")
    text = corefile("forward . ADDRESS {", "max_concurrent 1", "}")
    with (
        started(held) as up,
        running(text.replace("ADDRESS", up.address)) as srv,
        concurrent.futures.ThreadPoolExecutor(2) as pool,
    ):
        first = pool.submit(srv.tcp, "a.example.")
        try:
            assert wait_for(lambda: up.count() == 1)
            assert srv.udp("b.example.").rcode() == dns.rcode.REFUSED
        finally:
            release.set()
        assert answers(first.result()) == ["a.example. 300 IN A 10.0.0.1"]
    assert metric("coredns_forward_max_concurrent_rejects_total") == before + 1


def test_all_upstreams_dead_is_servfail() -> None:
    with running(corefile(f"forward . 127.0.0.1:{free_port()} {{", "max_fails 0", "}")) as srv:
        assert srv.udp("a.example.").rcode() == dns.rcode.SERVFAIL


def test_spoofed_reply_with_wrong_question_is_ignored() -> None:
    def liar(query: dns.message.Message, transport: str) -> dns.message.Message:
        other = dns.message.make_query("evil.example.", "A")
        other.id = query.id
        reply = dns.message.make_response(other)
        reply.answer.append(dns.rrset.from_text("evil.example.", 60, "IN", "A", "6.6.6.6"))
        return reply

    with started(liar) as up:
        text = corefile(f"forward . {up.address} {{", "max_fails 0", "read_timeout 300ms", "}")
        with running(text) as srv:
            reply = srv.udp("a.example.")
        assert reply.rcode() == dns.rcode.SERVFAIL  # the UDP answer was never accepted
