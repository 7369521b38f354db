"""The dnstap plugin end to end: Frame Streams handshake, CLIENT_* and FORWARDER_* messages,
memo hits tapped, a collector that goes away and comes back, a full queue that drops and counts.

CoreDNS facts checked here: plugin/dnstap/setup.go (syntax, `full`, writebuffer 1-1024,
queue 1-4096 x 10 000), plugin/dnstap/encoder.go (bidirectional Frame Streams, content type
`protobuf:dnstap.Dnstap`), plugin/forward/dnstap.go (FORWARDER_QUERY / FORWARDER_RESPONSE with
the upstream as response address).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

import dns.rcode
import pytest

from clusterdns.corefile import parse as parse_corefile
from clusterdns.errors import ConfigError
from clusterdns.plugins.dnstap.handler import Dnstap
from clusterdns.plugins.dnstap.options import Endpoint, parse
from tests.support.serverutil import RunningServer, running
from tests.support.tapcollect import ThreadCollector
from tests.support.upstream import metric, records, started, wait_for


def directive(text: str):  # type: ignore[no-untyped-def]
    block = parse_corefile(f". {{\n    {text}\n}}\n", "Corefile")[0]
    return block.directives[0]


@pytest.mark.parametrize(
    ("text", "endpoint", "full", "buffer", "queue"),
    [
        ("dnstap /tmp/d.sock", Endpoint("unix", path="/tmp/d.sock"), False, 1, 1),
        ("dnstap unix:///tmp/d.sock full", Endpoint("unix", path="/tmp/d.sock"), True, 1, 1),
        ("dnstap tcp://127.0.0.1:6000 full 8 2", Endpoint("tcp", host="127.0.0.1", port=6000), True, 8, 2),
        ("dnstap tls://[::1]:6000 nofull 1 4096", Endpoint("tls", host="::1", port=6000), False, 1, 4096),
    ],
)  # fmt: skip
def test_parse_follows_coredns_syntax(
    text: str, endpoint: Endpoint, full: bool, buffer: int, queue: int
) -> None:
    config = parse(directive(text))
    assert (config.endpoint, config.full, config.write_buffer, config.queue) == (
        endpoint,
        full,
        buffer,
        queue,
    )
    assert config.capacity == queue * 10_000
    assert config.version.startswith(b"clusterdns-")


def test_parse_block_options() -> None:
    config = parse(
        directive(
            "dnstap /tmp/s full {\n identity dns-1\n version X-1\n extra hello\n skipverify\n }"
        )
    )
    assert (config.identity, config.version, config.extra, config.skip_verify) == (
        b"dns-1",
        b"X-1",
        b"hello",
        True,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("dnstap", "needs a SOCKET"),
        ("dnstap tcp://127.0.0.1 full", "tcp://HOST:PORT"),
        ("dnstap /s full 0", "writebuffer must be between 1 and 1024"),
        ("dnstap /s full 1 4097", "queue must be between 1 and 4096"),
        ("dnstap /s full x", "writebuffer must be a number"),
        ("dnstap http://x:1", "unknown socket"),
        ("dnstap /s {\n bogus\n }", "unknown property 'bogus'"),
        ("dnstap /s {\n identity\n }", "identity needs one argument"),
    ],
)
def test_parse_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(directive(text))
    assert message in str(info.value)
    line = 3 if "{" in text else 2  # an option's error names its own line
    assert str(info.value).startswith(f"plugin/dnstap: Corefile:{line}: ")


def corefile(sock: str, upstream: str, extra: str = "") -> str:
    return f"""
.:0 {{
    bind 127.0.0.1
    dnstap {sock} full
    {extra}
    hosts {{
        10.0.0.1 web.example.test
        fallthrough
    }}
    forward . {upstream}
}}
"""


def tapper(srv: RunningServer) -> Dnstap:
    for block in srv.server.blocks:
        for plugin in block.plugins:
            if isinstance(plugin, Dnstap):
                return plugin
    raise LookupError("no dnstap plugin")


def test_client_and_forwarder_messages_reach_a_collector(tmp_path: Path) -> None:
    sock = str(tmp_path / "tap.sock")
    answer = records({"ext.example.org. A": ["192.0.2.7"]})
    with (
        ThreadCollector(f"unix://{sock}") as collector,
        started(answer) as upstream,
        running(corefile(f"unix://{sock}", upstream.address)) as srv,
    ):
        assert wait_for(lambda: tapper(srv).outputs[0].connected)
        first = srv.udp("web.example.test.", "A")
        second = srv.udp("web.example.test.", "A")  # answered from the memo
        external = srv.udp("ext.example.org.", "A")
        assert first.rcode() == second.rcode() == external.rcode() == dns.rcode.NOERROR
        assert wait_for(lambda: len(collector.of("CLIENT_RESPONSE")) == 3)
        assert wait_for(lambda: len(collector.of("FORWARDER_RESPONSE")) == 1)

        queries = collector.of("CLIENT_QUERY")
        responses = collector.of("CLIENT_RESPONSE")
        assert [q.name for q in queries] == [
            "web.example.test.",
            "web.example.test.",
            "ext.example.org.",
        ]
        # The memo hit is tapped like the first answer: same name, its own ID.
        assert [r.id for r in responses[:2]] == [first.id, second.id]
        assert all(r.query_address == "127.0.0.1" and r.protocol == "UDP" for r in responses)
        assert all(r.response_port == srv.port for r in responses)
        # A query and its response share the client address, port and query time (CoreDNS).
        assert [(q.query_port, q.query_ns) for q in queries] == [
            (r.query_port, r.query_ns) for r in responses
        ]
        assert all(r.response_ns is not None and r.response_ns >= r.query_ns for r in responses)

        (fq,) = collector.of("FORWARDER_QUERY")
        (fr,) = collector.of("FORWARDER_RESPONSE")
        host, port = upstream.address.rsplit(":", 1)
        assert (fq.response_address, fq.response_port) == (host, int(port))
        assert (fr.response_address, fr.response_port) == (host, int(port))
        assert fq.protocol == fr.protocol == "UDP"
        assert fq.name == fr.name == "ext.example.org."
        assert fr.rcode == 0 and fq.query_ns == fr.query_ns
        assert all(r.identity and r.version.startswith("clusterdns-") for r in collector.records)
        assert collector.problems == []


def test_without_full_no_dns_message_is_sent(tmp_path: Path) -> None:
    sock = str(tmp_path / "tap.sock")
    text = f".:0 {{\n bind 127.0.0.1\n dnstap {sock}\n whoami\n}}\n"
    with ThreadCollector(f"unix://{sock}") as collector, running(text) as srv:
        assert wait_for(lambda: tapper(srv).outputs[0].connected)
        srv.tcp("who.example.", "A")
        assert wait_for(lambda: len(collector.records) == 2)
        assert [r.type for r in collector.records] == ["CLIENT_QUERY", "CLIENT_RESPONSE"]
        assert all(r.message == b"" and r.protocol == "TCP" for r in collector.records)


def test_collector_that_goes_away_and_comes_back(tmp_path: Path) -> None:
    sock = str(tmp_path / "tap.sock")
    text = f".:0 {{\n bind 127.0.0.1\n dnstap unix://{sock} full\n whoami\n}}\n"
    collector = ThreadCollector(f"unix://{sock}").start()
    with running(text) as srv:
        output = tapper(srv).outputs[0]
        try:
            assert wait_for(lambda: output.connected)
            srv.udp("one.example.", "A")
            assert wait_for(lambda: len(collector.of("CLIENT_RESPONSE")) == 1)
        finally:
            collector.stop()
        assert wait_for(lambda: not output.connected)
        # No collector: queries are answered all the same.
        for _ in range(5):
            assert srv.udp("two.example.", "A").rcode() == dns.rcode.NOERROR
        collector = ThreadCollector(f"unix://{sock}").start()
        try:
            assert wait_for(lambda: output.connected and output.connects >= 2)
            srv.udp("three.example.", "A")
            assert wait_for(lambda: "three.example." in {r.name for r in collector.records})
            # What was queued while the collector was away is delivered after the reconnect.
            assert "two.example." in {r.name for r in collector.records}
        finally:
            collector.stop()


def test_full_queue_drops_and_counts_without_stalling(tmp_path: Path) -> None:
    sock = str(tmp_path / "nobody.sock")  # no collector listens here
    text = f".:0 {{\n bind 127.0.0.1\n dnstap unix://{sock} full\n whoami\n}}\n"
    with running(text) as srv:
        output = tapper(srv).outputs[0]
        output.capacity = 10  # CoreDNS's queue is 10 000 x queue; small here to fill it
        label = f"unix://{sock}"
        before = metric("clusterdns_dnstap_dropped_total", to=label)
        for i in range(20):
            assert srv.udp(f"q{i}.example.", "A").rcode() == dns.rcode.NOERROR
        assert len(output.queue) == 10
        # 20 queries, 2 messages each, 10 kept: 30 dropped and counted
        assert output.dropped_total == 30
        assert metric("clusterdns_dnstap_dropped_total", to=label) - before == 30


def test_tcp_collector(tmp_path: Path) -> None:
    with ThreadCollector("tcp://127.0.0.1:0") as collector:
        text = (
            f".:0 {{\n bind 127.0.0.1\n dnstap tcp://127.0.0.1:{collector.port} full\n whoami\n}}\n"
        )
        with running(text) as srv:
            srv.udp("tcp.example.", "A")
            assert wait_for(lambda: len(collector.of("CLIENT_RESPONSE")) == 1)
            assert collector.of("CLIENT_QUERY")[0].name == "tcp.example."


needs_fstrm = pytest.mark.skipif(
    not (shutil.which("fstrm_capture") and shutil.which("dnstap-ldns")),
    reason="Debian's fstrm-bin and dnstap-ldns are needed (make debs)",
)


@needs_fstrm
def test_fstrm_capture_takes_our_stream_and_dnstap_ldns_reads_it(tmp_path: Path) -> None:
    """Our sender against fstrm's C collector; the file it writes read by dnstap-ldns and by us."""
    sock, capture = tmp_path / "tap.sock", tmp_path / "capture.dnstap"
    process = subprocess.Popen(
        ["fstrm_capture", "-t", "protobuf:dnstap.Dnstap", "-u", str(sock), "-w", str(capture)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert wait_for(sock.exists)
        answer = records({"ext.example.org. A": ["192.0.2.7"]})
        with (
            started(answer) as upstream,
            running(corefile(f"unix://{sock}", upstream.address)) as srv,
        ):
            assert wait_for(lambda: tapper(srv).outputs[0].connected)
            srv.udp("web.example.test.", "A")
            srv.udp("web.example.test.", "AAAA")
            srv.tcp("ext.example.org.", "A")
            srv.udp("missing.example.test.", "TXT")
            assert wait_for(lambda: tapper(srv).outputs[0].sent >= 12)
        # The server stopped: our STOP, fstrm_capture's FINISH; now end the capture.
    finally:
        process.terminate()
        process.wait(10)
    theirs = subprocess.run(
        ["dnstap-ldns", "-q", "-r", str(capture)],
        capture_output=True,
        text=True,
        check=True,
        env={"TZ": "UTC"},
    ).stdout.splitlines()
    ours = subprocess.run(
        [_clusterdns(), "tap", "-r", str(capture)], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    # 4 client queries and responses; 2 names forwarded (hosts falls through): FQ and FR each
    assert len(theirs) == 12
    assert ours == theirs
    kinds = [line.split()[2] for line in theirs]
    assert kinds.count("FQ") == kinds.count("FR") == 2
    assert any(" FR " in line and " TCP " in line for line in theirs)
    assert any('"ext.example.org." IN A' in line and " FQ " in line for line in theirs)


def _clusterdns() -> str:
    import sys

    return str(Path(sys.executable).parent / "clusterdns")


@needs_fstrm
def test_tap_writes_a_file_dnstap_ldns_reads(tmp_path: Path) -> None:
    """`clusterdns tap -u SOCK -w FILE`: our collector and file writer, read by dnstap-ldns."""
    sock, out = tmp_path / "tap.sock", tmp_path / "out.dnstap"
    tap = subprocess.Popen(
        [_clusterdns(), "tap", "-u", str(sock), "-w", str(out), "--count", "4", "--window", "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for(sock.exists)
        text = f".:0 {{\n bind 127.0.0.1\n dnstap unix://{sock} full\n whoami\n}}\n"
        with running(text) as srv:
            srv.udp("a.example.", "A")
            srv.udp("b.example.", "MX")
            assert tap.wait(15) == 0
    finally:
        if tap.poll() is None:
            tap.kill()
            tap.wait(5)
    lines = subprocess.run(
        ["dnstap-ldns", "-q", "-r", str(out)], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert [line.split()[2:3] + line.split()[-3:] for line in lines] == [
        ["CQ", '"a.example."', "IN", "A"],
        ["CR", '"a.example."', "IN", "A"],
        ["CQ", '"b.example."', "IN", "MX"],
        ["CR", '"b.example."', "IN", "MX"],
    ]


def test_memo_path_pays_nothing_without_taps() -> None:
    text = ".:0 {\n bind 127.0.0.1\n whoami\n}\n"
    with running(text) as srv:
        srv.udp("x.example.", "A")
        for listener in srv.server.listeners.values():
            assert listener.dispatcher.tapped == {}


def test_a_collector_that_starts_late_is_used(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With no collector the output retries; a collector that appears is used within the backoff."""
    sock = str(tmp_path / "late.sock")
    text = f".:0 {{\n bind 127.0.0.1\n dnstap unix://{sock}\n whoami\n}}\n"
    with caplog.at_level(logging.WARNING, logger="clusterdns.plugins.dnstap"), running(text) as srv:
        output = tapper(srv).outputs[0]
        assert wait_for(lambda: "cannot connect to" in caplog.text, timeout=10)
        assert not output.connected
        with ThreadCollector(f"unix://{sock}"):
            assert wait_for(lambda: output.connected, timeout=10)
