"""The trace plugin end to end: spans received by an OTLP receiver on loopback.

CoreDNS facts checked here: plugin/trace/setup.go (syntax, `every` default 1 and
0 meaning none, `service` default `coredns`, ENDPOINT-TYPE lower-cased, one
argument is the ENDPOINT), plugin/trace/trace.go (root span `servedns`, kind
server, tags coredns.io/name, type, proto, remote, rcode; the Nth query traced
when count % every == 0), plugin/plugin.go NextOrFailure (a span per plugin
named after it, child of the span of the plugin before), plugin/forward/forward.go
(a `connect` span per upstream exchange with `peer.address`).
"""

from __future__ import annotations

from pathlib import Path

import dns.rcode
import pytest

from clusterdns.corefile import parse as parse_corefile
from clusterdns.errors import ConfigError
from clusterdns.plugins.trace import handler
from clusterdns.plugins.trace.options import TraceConfig, parse
from clusterdns.server.server import Server
from tests.support.otlpcollect import GRPCReceiver, HTTPReceiver, Received, Spans
from tests.support.serverutil import RunningServer, running
from tests.support.tapcollect import ThreadCollector
from tests.support.upstream import free_port, records, started, wait_for

SERVER, CLIENT, INTERNAL = 2, 3, 1  # OTLP SpanKind
ERROR = 2  # OTLP Status.code


def directive(text: str):  # type: ignore[no-untyped-def]
    block = parse_corefile(f". {{\n    {text}\n}}\n", "Corefile")[0]
    return block.directives[0]


@pytest.mark.parametrize(
    ("text", "protocol", "endpoint"),
    [
        ("trace", "otlp", "http://localhost:4318/v1/traces"),
        ("trace collector", "otlp", "http://collector:4318/v1/traces"),
        ("trace 10.0.0.9:9999", "otlp", "http://10.0.0.9:9999/v1/traces"),
        ("trace [::1]:4318", "otlp", "http://[::1]:4318/v1/traces"),
        ("trace OTLP collector:4000", "otlp", "http://collector:4000/v1/traces"),
        ("trace otlp http://c:4318", "otlp", "http://c:4318/v1/traces"),
        ("trace https://c/otlp/v1/traces", "otlp", "https://c/otlp/v1/traces"),
        ("trace otlp", "otlp", "http://localhost:4318/v1/traces"),
        ("trace otlp-grpc", "otlp-grpc", "http://localhost:4317"),
        ("trace otlp-grpc collector", "otlp-grpc", "http://collector:4317"),
        ("trace otlp-grpc https://collector", "otlp-grpc", "https://collector:4317"),
    ],
)
def test_endpoints(text: str, protocol: str, endpoint: str) -> None:
    config = parse(directive(text))
    assert (config.protocol, config.endpoint) == (protocol, endpoint)
    # CoreDNS's defaults: every query traced, service "coredns".
    assert (config.every, config.service, config.client_server) == (1, "coredns", False)


def test_block_options() -> None:
    config = parse(
        directive(
            "trace c:1 {\n every 10000\n service dnsproxy\n client_server false\n"
            " zipkin_max_backlog_size 50\n zipkin_max_batch_size 5\n"
            " zipkin_max_batch_interval 250ms\n }"
        )
    )
    assert config == TraceConfig(
        "otlp", "http://c:1/v1/traces", 10000, "dnsproxy", False, 50, 5, 0.25
    )
    # CoreDNS: client_server alone means true; 0 leaves the zipkin reporter's defaults.
    config = parse(directive("trace {\n client_server\n zipkin_max_batch_size 0\n every 0\n }"))
    assert (config.client_server, config.batch, config.every) == (True, 100, 0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("trace zipkin localhost:9411", "endpoint type 'zipkin' is not built into clusterdns"),
        ("trace Zipkin", "use 'trace otlp HOST:4318'"),
        ("trace datadog localhost:8126", "endpoint type 'datadog' is not built into clusterdns"),
        ("trace jaeger host:1", "tracing endpoint type 'jaeger' is not supported"),
        ("trace otlp a b", "unexpected argument 'b'"),
        ("trace ftp://host:1", "a URL must be http:// or https://"),
        ("trace http://host:x", "expected SCHEME://HOST[:PORT][/PATH]"),
        ("trace host:99999", "port must be a number"),
        ("trace otlp-grpc http://c:4317/v1", "an OTLP/gRPC endpoint has no path"),
        ("trace {\n every x\n }", "every must be a number, not 'x'"),
        ("trace {\n every -1\n }", "every must be between 0 and"),
        ("trace {\n every\n }", "every needs one argument"),
        ("trace {\n every 1 2\n }", "every needs one argument"),
        ("trace {\n service\n }", "service needs one argument"),
        ("trace {\n client_server maybe\n }", "client_server must be true or false"),
        ("trace {\n datadog_analytics_rate 0.5\n }", "datadog_analytics_rate is a Datadog option"),
        ("trace {\n zipkin_max_batch_interval 5\n }", "invalid duration '5'"),
        ("trace {\n bogus\n }", "unknown property 'bogus'"),
    ],
)
def test_parse_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(directive(text))
    assert message in str(info.value)
    line = 3 if "{" in text else 2  # an option's error names its own line
    assert str(info.value).startswith(f"plugin/trace: Corefile:{line}: ")


def test_batch_larger_than_backlog_is_refused() -> None:
    with pytest.raises(ConfigError, match="zipkin_max_batch_size 200 is larger than"):
        parse(directive("trace {\n zipkin_max_batch_size 200\n zipkin_max_backlog_size 10\n }"))


@pytest.mark.parametrize(
    ("option", "line", "message"),
    [
        ("trace zipkin", 3, "endpoint type 'zipkin' is not built into clusterdns"),
        ("trace {\n        every many\n    }", 4, "every must be a number, not 'many'"),
    ],
)
def test_a_server_refuses_a_bad_trace_naming_file_and_line(
    option: str, line: int, message: str
) -> None:
    text = f"# tracing\n.:0 {{\n    {option}\n    whoami\n}}\n"
    server = Server(text, "/etc/coredns/Corefile", default_port=0)
    with pytest.raises(ConfigError) as info:
        server.plan(text)
    assert str(info.value).startswith(f"plugin/trace: /etc/coredns/Corefile:{line}: {message}")


def corefile(endpoint: str, upstream: str, options: str = "", kind: str = "otlp") -> str:
    return f"""
.:0 {{
    bind 127.0.0.1
    trace {kind} {endpoint} {{
        zipkin_max_batch_interval 50ms
        {options}
    }}
    prometheus 127.0.0.1:0
    errors
    hosts {{
        10.0.0.1 web.example.test
        fallthrough
    }}
    forward . {upstream}
}}
"""


ANSWER = records({"ext.example.org. A": ["192.0.2.7"]})


def chain_of(spans: Spans, root: Received) -> list[tuple[str, str]]:
    """(span name, parent's name) of ``root``'s trace, in the order they started."""
    by_id = {s.span_id: s for s in spans.trace(root)}
    return [(s.name, by_id[s.parent].name if s.parent else "") for s in spans.trace(root)]


def test_a_query_is_a_servedns_span_with_a_child_per_plugin() -> None:
    with (
        HTTPReceiver() as receiver,
        started(ANSWER) as upstream,
        running(corefile(f"127.0.0.1:{receiver.port}", upstream.address)) as srv,
    ):
        reply = srv.udp("Web.Example.Test.", "A")
        assert reply.rcode() == dns.rcode.NOERROR
        assert wait_for(lambda: len(receiver.all()) == 3)
    [root] = receiver.roots()
    assert (root.name, root.kind, root.service) == ("servedns", SERVER, "coredns")
    assert root.attributes == {
        "coredns.io/name": "web.example.test.",
        "coredns.io/type": "A",
        "coredns.io/proto": "udp",
        "coredns.io/remote": "127.0.0.1",
        "coredns.io/rcode": "NOERROR",
    }
    # prometheus handles no queries, so it has no span; hosts answered, so forward has none.
    assert chain_of(receiver, root) == [
        ("servedns", ""),
        ("errors", "servedns"),
        ("hosts", "errors"),
    ]
    for span in receiver.trace(root)[1:]:
        assert span.kind == INTERNAL
        assert span.attributes == {"coredns.io/rcode": "NOERROR"}
        assert root.start <= span.start <= span.end <= root.end


def test_a_forwarded_query_names_its_upstream() -> None:
    with (
        HTTPReceiver() as receiver,
        started(ANSWER) as upstream,
        running(corefile(f"127.0.0.1:{receiver.port}", upstream.address)) as srv,
    ):
        assert srv.tcp("ext.example.org.", "A").rcode() == dns.rcode.NOERROR
        assert srv.udp("missing.example.org.", "MX").rcode() == dns.rcode.NXDOMAIN
        assert wait_for(lambda: len(receiver.roots()) == 2 and len(receiver.all()) == 10)
    found, missing = receiver.roots()
    assert chain_of(receiver, found) == [
        ("servedns", ""),
        ("errors", "servedns"),
        ("hosts", "errors"),
        ("forward", "hosts"),
        ("connect", "forward"),
    ]
    assert found.attributes["coredns.io/proto"] == "tcp"
    assert missing.attributes["coredns.io/type"] == "MX"
    assert missing.attributes["coredns.io/rcode"] == "NXDOMAIN"
    for root, proto, rcode in ((found, "tcp", "NOERROR"), (missing, "udp", "NXDOMAIN")):
        spans = {s.name: s for s in receiver.trace(root)}
        assert spans["forward"].attributes == {
            "peer.address": upstream.address,
            "coredns.io/rcode": rcode,
        }
        assert spans["connect"].kind == CLIENT
        assert spans["connect"].attributes == {
            "peer.address": upstream.address,
            "coredns.io/proto": proto,
            "coredns.io/rcode": rcode,
        }


def test_a_memo_hit_is_a_servedns_span_without_children() -> None:
    with (
        HTTPReceiver() as receiver,
        started(ANSWER) as upstream,
        running(corefile(f"127.0.0.1:{receiver.port}", upstream.address)) as srv,
    ):
        srv.udp("web.example.test.", "A")
        srv.udp("web.example.test.", "A")  # the same bytes but the ID: from the memo
        assert wait_for(lambda: len(receiver.roots()) == 2)
    first, second = receiver.roots()
    assert "clusterdns.io/memo" not in first.attributes
    assert len(receiver.trace(first)) == 3
    assert second.attributes == {
        "coredns.io/name": "web.example.test.",
        "coredns.io/type": "A",
        "coredns.io/proto": "udp",
        "coredns.io/remote": "127.0.0.1",
        "coredns.io/rcode": "NOERROR",
        "clusterdns.io/memo": True,
    }
    assert receiver.trace(second) == [second]


def test_every_3_traces_each_third_query_memo_hits_included() -> None:
    queries = [
        ("web.example.test.", "A"),  # 1 chain
        ("web.example.test.", "A"),  # 2 memo
        ("web.example.test.", "A"),  # 3 memo: traced
        ("ext.example.org.", "A"),  # 4 chain (forwarded replies are not memoized)
        ("web.example.test.", "A"),  # 5 memo
        ("ext.example.org.", "A"),  # 6 chain: traced
        ("web.example.test.", "AAAA"),  # 7 chain
        ("web.example.test.", "A"),  # 8 memo
        ("web.example.test.", "AAAA"),  # 9 memo: traced
        ("web.example.test.", "A"),  # 10 memo
        ("ext.example.org.", "A"),  # 11 chain
    ]
    with (
        HTTPReceiver() as receiver,
        started(ANSWER) as upstream,
        running(corefile(f"127.0.0.1:{receiver.port}", upstream.address, "every 3")) as srv,
    ):
        for name, rdtype in queries:
            assert srv.udp(name, rdtype).rcode() == dns.rcode.NOERROR
    # Stopping the server flushed every span: nothing more will come.
    roots = receiver.roots()
    assert [
        (
            r.attributes["coredns.io/name"],
            r.attributes["coredns.io/type"],
            "clusterdns.io/memo" in r.attributes,
        )
        for r in roots
    ] == [
        ("web.example.test.", "A", True),
        ("ext.example.org.", "A", False),
        ("web.example.test.", "AAAA", True),
    ]
    assert [len(receiver.trace(r)) for r in roots] == [1, 5, 1]


def test_every_0_traces_nothing() -> None:
    with (
        HTTPReceiver() as receiver,
        started(ANSWER) as upstream,
        running(corefile(f"127.0.0.1:{receiver.port}", upstream.address, "every 0")) as srv,
    ):
        for _ in range(3):
            srv.udp("web.example.test.", "A")
        srv.udp("ext.example.org.", "A")
    assert receiver.all() == []


def test_service_name_and_otlp_grpc() -> None:
    with (
        GRPCReceiver() as receiver,
        started(ANSWER) as upstream,
        running(
            corefile(
                f"127.0.0.1:{receiver.port}", upstream.address, "service dns-node-1", "otlp-grpc"
            )
        ) as srv,
    ):
        assert srv.udp("ext.example.org.", "A").rcode() == dns.rcode.NOERROR
        assert wait_for(lambda: len(receiver.all()) == 5)
    [root] = receiver.roots()
    assert root.service == "dns-node-1"
    assert [name for name, _ in chain_of(receiver, root)] == [
        "servedns",
        "errors",
        "hosts",
        "forward",
        "connect",
    ]


def test_the_traced_chain_ends_as_the_server_chain_does() -> None:
    """No plugin after trace: SERVFAIL either way, and the span says why (CoreDNS: no next plugin)."""
    with HTTPReceiver() as receiver:
        text = f".:0 {{\n bind 127.0.0.1\n trace 127.0.0.1:{receiver.port} {{\n every 2\n }}\n}}\n"
        with running(text) as srv:
            assert srv.udp("a.example.", "A").rcode() == dns.rcode.SERVFAIL
            assert srv.udp("a.example.", "A").rcode() == dns.rcode.SERVFAIL
    [root] = receiver.all()
    assert root.attributes["coredns.io/rcode"] == "SERVFAIL"
    assert (root.status, root.status_message) == (ERROR, "no next plugin found for a.example.")


def test_a_silent_upstream_is_a_failed_connect_span() -> None:
    dead = f"127.0.0.1:{free_port()}"
    with HTTPReceiver() as receiver:
        text = corefile(f"127.0.0.1:{receiver.port}", dead, "").replace(
            f"forward . {dead}", f"forward . {dead} {{\n max_fails 0\n }}"
        )
        with running(text) as srv:
            assert srv.udp("ext.example.org.", "A").rcode() == dns.rcode.SERVFAIL
    [root] = receiver.roots()
    connects = [s for s in receiver.trace(root) if s.name == "connect"]
    assert connects and all(s.status == ERROR for s in connects)
    assert all(s.attributes["peer.address"] == dead for s in connects)
    forward = next(s for s in receiver.trace(root) if s.name == "forward")
    assert forward.attributes["coredns.io/rcode"] == "SERVFAIL"
    assert forward.status == ERROR


def test_answers_go_on_while_the_collector_is_away(monkeypatch: pytest.MonkeyPatch) -> None:
    # The exporter gives up on a batch after 1 s, and stop waits 1 s at most for the rest.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "1")
    monkeypatch.setattr(handler, "STOP_FLUSH", 1.0)
    with started(ANSWER) as upstream:
        srv = RunningServer(corefile(f"127.0.0.1:{free_port()}", upstream.address)).start()
        try:
            for i in range(30):
                name = "web.example.test." if i % 2 else "ext.example.org."
                assert srv.udp(name, "A").rcode() == dns.rcode.NOERROR
            assert srv.tcp("ext.example.org.", "A").rcode() == dns.rcode.NOERROR
        finally:
            srv.stop()


def test_dnstap_and_trace_both_see_forwards_exchanges(tmp_path: Path) -> None:
    sock = str(tmp_path / "tap.sock")
    with (
        HTTPReceiver() as receiver,
        ThreadCollector(f"unix://{sock}") as collector,
        started(ANSWER) as upstream,
    ):
        text = corefile(f"127.0.0.1:{receiver.port}", upstream.address, "").replace(
            "    errors\n", f"    errors\n    dnstap unix://{sock}\n"
        )
        with running(text) as srv:
            assert srv.udp("ext.example.org.", "A").rcode() == dns.rcode.NOERROR
            assert wait_for(lambda: len(collector.of("FORWARDER_RESPONSE")) == 1)
    names = [s.name for s in receiver.all()]
    assert sorted(names) == ["connect", "errors", "forward", "hosts", "servedns"]


def test_a_reload_flushes_the_old_tracer_and_starts_a_new_one() -> None:
    with HTTPReceiver() as receiver, started(ANSWER) as upstream:
        first = corefile(f"127.0.0.1:{receiver.port}", upstream.address, "service before")
        with running(first) as srv:
            srv.udp("web.example.test.", "A")
            assert srv.call(srv.server.reload(first.replace("service before", "service after")))
            # The old plugin was stopped: its span is out before any of the new one's.
            assert [s.service for s in receiver.roots()] == ["before"]
            srv.udp("web.example.test.", "AAAA")
    assert [(s.service, s.attributes["coredns.io/type"]) for s in receiver.roots()] == [
        ("before", "A"),
        ("after", "AAAA"),
    ]
