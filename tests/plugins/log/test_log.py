"""The log plugin: CoreDNS's query-log line byte for byte, its options and response classes."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import struct
import threading

import dns.message
import dns.rcode
import dns.rrset
import pytest

from clusterdns.corefile import parse as parse_corefile
from clusterdns.dns.wire import parse_query
from clusterdns.errors import ConfigError
from clusterdns.plugins.log.format import (
    COMBINED_FORMAT,
    COMMON_FORMAT,
    classify,
    compile_format,
    duration_seconds,
    flags_text,
    go_seconds,
    render,
    typify,
)
from clusterdns.plugins.log.options import RuleConfig, parse
from clusterdns.plugins.log.setup import setup
from clusterdns.plugins.plugin import Reply, Request, SetupContext
from clusterdns.server.run import CoreDNSFormatter
from tests.support.serverutil import running

LOGGER = "clusterdns.plugins.log"
# Go's FormatFloat(secs, 'f', -1, 64): digits, never an exponent, no trailing zero.
DURATION = r"(0|[1-9]\d*)(\.\d*[1-9])?s"

HOSTS = """
    hosts {
        10.0.0.1 web.example.test
        fd00::1 web.example.test
    }
"""


def corefile(host: str, log: str = "log", hosts: str = HOSTS) -> str:
    return f".:0 {{\n    bind {host}\n    {log}\n{hosts}\n}}\n"


def require_ipv6_loopback() -> None:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
    except OSError as exc:
        pytest.fail(
            f"IPv6 loopback ::1 is not usable here ({exc.strerror}); the golden IPv6 log lines "
            "need it: enable it with `sysctl net.ipv6.conf.lo.disable_ipv6=0`"
        )


def exchange(host: str, port: int, transport: str, wire: bytes) -> tuple[int, bytes]:
    """Send one query from a socket we bind ourselves, so the test knows the client port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    with socket.socket(family, kind) as sock:
        sock.settimeout(3)
        sock.bind((host, 0))
        client_port = sock.getsockname()[1]
        if transport == "udp":
            sock.sendto(wire, (host, port))
            return client_port, sock.recv(65535)
        sock.connect((host, port))
        sock.sendall(struct.pack(">H", len(wire)) + wire)
        length = struct.unpack(">H", recv_exactly(sock, 2))[0]
        return client_port, recv_exactly(sock, length)


def recv_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        assert chunk, "server closed the connection early"
        data += chunk
    return data


def query_wire(name: str, rdtype: str = "A", qid: int = 4242, **edns: object) -> bytes:
    message = dns.message.make_query(name, rdtype, **edns)  # type: ignore[arg-type]
    message.id = qid
    return message.to_wire()


def log_lines(caplog: pytest.LogCaptureFixture, thread: int | None) -> list[str]:
    """Lines the log plugin wrote from ``thread`` (a test server's loop thread): servers
    other tests left behind cannot add lines."""
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.thread == thread]


# -- golden lines through a real server --------------------------------------------

GOLDEN = [
    # host, transport, qname, type, edns options, expected text between "ID " and the duration
    ("127.0.0.1", "udp", "web.example.test.", "A", {},
     '"A IN web.example.test. udp 34 false 512" NOERROR qr,aa,rd 50'),
    ("127.0.0.1", "tcp", "web.example.test.", "A", {},
     '"A IN web.example.test. tcp 34 false 65535" NOERROR qr,aa,rd 50'),
    ("127.0.0.1", "udp", "web.example.test.", "A", {"use_edns": 0, "want_dnssec": True, "payload": 1232},
     '"A IN web.example.test. udp 45 true 1232" NOERROR qr,aa,rd 61'),
    ("127.0.0.1", "udp", "web.example.test.", "A", {"use_edns": 0, "payload": 100},
     '"A IN web.example.test. udp 45 false 512" NOERROR qr,aa,rd 61'),
    ("127.0.0.1", "tcp", "web.example.test.", "AAAA", {"use_edns": 0, "want_dnssec": True, "payload": 4096},
     '"AAAA IN web.example.test. tcp 45 true 65535" NOERROR qr,aa,rd 73'),
    ("127.0.0.1", "udp", "WeB.Example.TEST.", "A", {},
     '"A IN web.example.test. udp 34 false 512" NOERROR qr,aa,rd 50'),
    # hosts without fallthrough answers SERVFAIL for a name it does not have; the
    # server writes it, the log shows the header+question message CoreDNS's SetRcode builds.
    ("127.0.0.1", "udp", "nope.example.test.", "A", {},
     '"A IN nope.example.test. udp 35 false 512" SERVFAIL qr,rd 35'),
    ("::1", "udp", "web.example.test.", "A", {},
     '"A IN web.example.test. udp 34 false 512" NOERROR qr,aa,rd 50'),
    ("::1", "tcp", "web.example.test.", "AAAA", {"use_edns": 0, "payload": 1232},
     '"AAAA IN web.example.test. tcp 45 false 65535" NOERROR qr,aa,rd 73'),
    ("::1", "udp", "nope.example.test.", "TXT", {"use_edns": 0, "want_dnssec": True, "payload": 1400},
     '"TXT IN nope.example.test. udp 46 true 1400" SERVFAIL qr,rd 35'),
]  # fmt: skip


@pytest.mark.parametrize(("host", "transport", "qname", "rdtype", "edns", "middle"), GOLDEN)
def test_default_line_is_coredns_common_log_format(
    caplog: pytest.LogCaptureFixture,
    host: str,
    transport: str,
    qname: str,
    rdtype: str,
    edns: dict[str, object],
    middle: str,
) -> None:
    if ":" in host:
        require_ipv6_loopback()
    caplog.set_level(logging.INFO, logger=LOGGER)
    with running(corefile(host)) as srv:
        client_port, reply = exchange(host, srv.port, transport, query_wire(qname, rdtype, **edns))
    remote = f"[{host}]" if ":" in host else host
    [line] = log_lines(caplog, srv.thread.ident)
    prefix = f"[INFO] {remote}:{client_port} - 4242 {middle} "
    assert line.startswith(prefix), line
    assert re.fullmatch(DURATION, line[len(prefix) :]), line
    rsize = int(middle.split()[-1])
    if dns.message.from_wire(reply).rcode() == dns.rcode.NOERROR:
        assert rsize == len(reply)


def test_formatter_prints_the_line_unchanged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    with running(corefile("127.0.0.1")) as srv:
        srv.udp("web.example.test.", "A")
    [record] = [r for r in caplog.records if r.name == LOGGER and r.thread == srv.thread.ident]
    assert record.levelno == logging.INFO
    assert CoreDNSFormatter().format(record) == record.getMessage()
    assert record.getMessage().startswith("[INFO] 127.0.0.1:")


def test_every_query_is_logged_even_identical_ones(caplog: pytest.LogCaptureFixture) -> None:
    """The server memoizes replies; with log in the chain it must not skip the chain."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    wire = query_wire("web.example.test.", qid=7)
    with running(corefile("127.0.0.1")) as srv:
        for _ in range(3):
            exchange("127.0.0.1", srv.port, "udp", wire)
    assert len(log_lines(caplog, srv.thread.ident)) == 3


CUSTOM = [
    ('log . "{proto} Request: {name} {type} {>id}"', "udp Request: web.example.test. A 4242"),
    ("log . {combined}", None),
    ('log . "{class} {local} {>opcode} {host} } {/log/class} {/log/type} {/nope}"',
     "IN 127.0.0.1 0 {host} } success NOERROR -"),
    ('log . "{rcode}|{>rflags}|{rsize}|{size}|{>do}|{>bufsize}"', "NOERROR|qr,aa,rd|50|34|false|512"),
]  # fmt: skip


@pytest.mark.parametrize(("directive", "expected"), CUSTOM)
def test_custom_formats(
    caplog: pytest.LogCaptureFixture, directive: str, expected: str | None
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    with running(corefile("127.0.0.1", directive)) as srv:
        client_port, _ = exchange("127.0.0.1", srv.port, "udp", query_wire("web.example.test."))
    [line] = log_lines(caplog, srv.thread.ident)
    if expected is None:  # {combined}: the common line plus the opcode in quotes
        prefix = f'[INFO] 127.0.0.1:{client_port} - 4242 "A IN web.example.test. udp 34 false 512" NOERROR qr,aa,rd 50 '
        assert line.startswith(prefix) and line.endswith(' "0"'), line
        assert re.fullmatch(DURATION, line[len(prefix) : -4]), line
    else:
        assert line == "[INFO] " + expected


NAME_AND_CLASS = [
    # directive, queried names -> how many lines
    ("log", ["web.example.test.", "nope.example.test."], 2),
    ("log other.test", ["web.example.test."], 0),
    ("log example.test", ["web.example.test.", "nope.example.test."], 2),
    ("log web.example.test", ["web.example.test.", "nope.example.test."], 1),
    ("log {\n        class error\n    }", ["web.example.test.", "nope.example.test."], 1),
    ("log {\n        class success\n    }", ["web.example.test.", "nope.example.test."], 1),
    ("log {\n        class denial\n    }", ["web.example.test.", "nope.example.test."], 0),
    ("log {\n        class denial\n        class error\n    }", ["web.example.test.", "nope.example.test."], 1),
    ("log . {\n        class all denial\n    }", ["web.example.test.", "nope.example.test."], 2),
    # a single argument is always a name in CoreDNS, even one that looks like a format
    ("log {combined}", ["web.example.test."], 0),
]  # fmt: skip


@pytest.mark.parametrize(("directive", "names", "count"), NAME_AND_CLASS)
def test_name_scopes_and_classes(
    caplog: pytest.LogCaptureFixture, directive: str, names: list[str], count: int
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    with running(corefile("127.0.0.1", directive)) as srv:
        for name in names:
            srv.udp(name, "A")
    assert len(log_lines(caplog, srv.thread.ident)) == count


# -- parsing ------------------------------------------------------------------------


def directive_of(text: str):  # type: ignore[no-untyped-def]
    [block] = parse_corefile(f". {{\n{text}\n}}\n", "Corefile")
    return block.directives[0]


ALL_CLASSES = frozenset({"all"})
PARSE_OK = [
    ("log", (RuleConfig(".", COMMON_FORMAT, ALL_CLASSES),)),
    ("log example.org", (RuleConfig("example.org.", COMMON_FORMAT, ALL_CLASSES),)),
    ("log Example.ORG. {common}", (RuleConfig("example.org.", COMMON_FORMAT, ALL_CLASSES),)),
    ("log example.org {combined}", (RuleConfig("example.org.", COMBINED_FORMAT, ALL_CLASSES),)),
    ("log example.org example.net", (RuleConfig("example.org.", COMMON_FORMAT, ALL_CLASSES),
                                     RuleConfig("example.net.", COMMON_FORMAT, ALL_CLASSES))),
    ("log example.org example.net {host}", (RuleConfig("example.org.", "{host}", ALL_CLASSES),
                                            RuleConfig("example.net.", "{host}", ALL_CLASSES))),
    ('log example.org "{when} {common} {/forward/upstream}"',
     (RuleConfig("example.org.", "{when} " + COMMON_FORMAT + " {/forward/upstream}", ALL_CLASSES),)),
    ("log {\n class denial error\n}", (RuleConfig(".", COMMON_FORMAT, frozenset({"denial", "error"})),)),
    ("log {\n class denial\n class error\n}", (RuleConfig(".", COMMON_FORMAT, frozenset({"denial", "error"})),)),
    ("log {combined}", (RuleConfig("{combined}.", COMMON_FORMAT, ALL_CLASSES),)),
]  # fmt: skip


@pytest.mark.parametrize(("text", "rules"), PARSE_OK)
def test_parse(text: str, rules: tuple[RuleConfig, ...]) -> None:
    assert parse(directive_of(text)) == rules


PARSE_BAD = [
    ("log {\n class abracadabra\n}", "plugin/log: Corefile:3: invalid class 'abracadabra'"),
    ("log {\n class\n}", "plugin/log: Corefile:3: class needs at least one"),
    ("log {\n unknown\n}", "plugin/log: Corefile:3: unknown property 'unknown'"),
]


@pytest.mark.parametrize(("text", "message"), PARSE_BAD)
def test_parse_errors_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(directive_of(text))
    assert str(info.value).startswith(message)


# -- format plan and number formatting ------------------------------------------------


def test_format_plan_splits_like_coredns_replacer() -> None:
    request, reply = make_exchange(
        "web.example.test.", "A", reply_with(dns.rcode.NOERROR, answer=True)
    )
    cases = {
        "{type}": "A",
        "A {type}": "A A",
        "{ {type} }": "{ A }",
        "A } {type}": "A } A",
        "{X} {type}": "{X} A",
        "{type": "{type",
        "": "",
        "{/log/type}/{/log/class}": "NOERROR/success",
    }
    for text, expected in cases.items():
        assert render(compile_format(text), request, reply, 0.5) == expected, text


GO_SECONDS = [
    (0.000283, "0.000283s"),
    (5.1e-05, "0.000051s"),
    (1e-09, "0.000000001s"),
    (duration_seconds(37_990_251), "0.037990251s"),
    (duration_seconds(13_145), "0.000013145s"),
    (duration_seconds(1_000_000_000), "1s"),
    (duration_seconds(2_500_000_000), "2.5s"),
    (duration_seconds(3_000_000_007), "3.000000007s"),
    (120.0, "120s"),
    (0.0, "0s"),
]


@pytest.mark.parametrize(("seconds", "text"), GO_SECONDS)
def test_duration_is_go_formatfloat_f_minus_one(seconds: float, text: str) -> None:
    assert go_seconds(seconds) == text


def test_flags_in_coredns_order() -> None:
    assert flags_text(0xFFFF & ~0x7800 & ~0x000F) == "qr,aa,tc,rd,ra,z,ad,cd"
    assert flags_text(0x8000 | 0x0100 | 0x0080) == "qr,rd,ra"
    assert flags_text(0) == ""


# -- response classes (plugin/pkg/response) --------------------------------------------


def reply_with(
    rcode: int, answer: bool = False, soa: bool = False, ns: bool = False, opcode: int = 0
) -> dns.message.Message:
    message = dns.message.make_query("web.example.test.", "A")
    response = dns.message.make_response(message)
    response.set_rcode(rcode)
    response.set_opcode(opcode)  # type: ignore[arg-type]
    if answer:
        response.answer.append(dns.rrset.from_text("web.example.test.", 30, "IN", "A", "10.0.0.1"))
    if soa:
        response.authority.append(
            dns.rrset.from_text("example.test.", 30, "IN", "SOA", "ns. host. 1 2 3 4 5")
        )
    if ns:
        response.authority.append(
            dns.rrset.from_text("example.test.", 30, "IN", "NS", "ns.example.test.")
        )
    return response


def make_exchange(name: str, rdtype: str, response: dns.message.Message | None, rcode: int = 2):  # type: ignore[no-untyped-def]
    query = parse_query(query_wire(name, rdtype))
    request = Request(query, "udp", ("127.0.0.1", 5300), "dns://:53", ".", 0.0)
    if response is None:
        return request, Reply.unanswered(rcode, "hosts")
    response.id = query.id
    return request, Reply(response.to_wire(), response.rcode(), "hosts")


TYPIFY = [
    ("A", reply_with(dns.rcode.NOERROR, answer=True), "NOERROR", "success"),
    ("A", reply_with(dns.rcode.NOERROR, ns=True), "DELEGATION", "success"),
    ("A", reply_with(dns.rcode.NOERROR), "NOERROR", "success"),
    ("A", reply_with(dns.rcode.NXDOMAIN, soa=True), "NXDOMAIN", "denial"),
    ("A", reply_with(dns.rcode.NXDOMAIN), "NXDOMAIN", "denial"),
    ("A", reply_with(dns.rcode.NOERROR, soa=True), "NODATA", "denial"),
    ("A", reply_with(dns.rcode.NOERROR, answer=True, soa=True), "NOERROR", "success"),
    ("A", reply_with(dns.rcode.NXDOMAIN, answer=True), "OTHERERROR", "error"),
    ("A", reply_with(dns.rcode.SERVFAIL), "SERVERERROR", "error"),
    ("A", reply_with(dns.rcode.NOTIMP), "SERVERERROR", "error"),
    ("A", reply_with(dns.rcode.REFUSED), "OTHERERROR", "error"),
    ("AXFR", reply_with(dns.rcode.NOERROR, answer=True), "META", "error"),
    ("A", reply_with(dns.rcode.NOERROR, opcode=5), "UPDATE", "error"),
    ("A", reply_with(dns.rcode.NOERROR, opcode=4), "META", "error"),
    ("A", None, "SERVERERROR", "error"),
]


@pytest.mark.parametrize(("rdtype", "response", "kind", "klass"), TYPIFY)
def test_typify_and_classify(
    rdtype: str, response: dns.message.Message | None, kind: str, klass: str
) -> None:
    request, reply = make_exchange("web.example.test.", rdtype, response)
    assert typify(request, reply) == kind
    assert classify(request, reply) == klass


def test_denial_class_logs_nxdomain_not_success(caplog: pytest.LogCaptureFixture) -> None:
    """An NXDOMAIN from further down the chain passes the class filter; an answer does not."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    plugin = setup(
        directive_of("log . {\n class denial\n}"), SetupContext((".",), (".",), 53, "Corefile")
    )
    for response in (
        reply_with(dns.rcode.NXDOMAIN, soa=True),
        reply_with(dns.rcode.NOERROR, answer=True),
    ):
        request, reply = make_exchange("web.example.test.", "A", response)

        async def next_handler(_: Request, reply: Reply = reply) -> Reply:
            return reply

        assert asyncio.run(plugin.serve(request, next_handler)) is reply
    [line] = log_lines(caplog, threading.get_ident())
    assert line.startswith(
        '[INFO] 127.0.0.1:5300 - 4242 "A IN web.example.test. udp 34 false 512" NXDOMAIN qr,rd '
    ), line
