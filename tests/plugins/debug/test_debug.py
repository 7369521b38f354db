"""debug: hex dumps of what could not be read (CoreDNS plugin/debug/README.md)."""

from __future__ import annotations

import logging
import socket

import dns.message
import dns.rcode
import pytest

from clusterdns.dns.hexdump import hexdump
from tests.support.serverutil import running
from tests.support.upstream import started


def test_hexdump_layout_is_coredns_debug_readme() -> None:
    # plugin/debug/README.md: 16 bytes a line after a 6-digit offset, then the end offset
    data = bytes.fromhex("000a0100000100000000000107657861")
    data += bytes.fromhex("6d706c65056c6f63616c00000100010000291000000080000000")
    assert hexdump(data) == [
        "debug: 000000 00 0a 01 00 00 01 00 00 00 00 00 01 07 65 78 61",
        "debug: 000010 6d 70 6c 65 05 6c 6f 63 61 6c 00 00 01 00 01 00",
        "debug: 000020 00 29 10 00 00 00 80 00 00 00",
        "debug: 00002a",
    ]


def test_debug_dumps_unparsable_queries_and_malformed_upstream_replies(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def wrong_question(query: dns.message.Message, transport: str) -> dns.message.Message:
        other = dns.message.make_query("other.example.", "A")
        other.id = query.id
        return dns.message.make_response(other)

    caplog.handler.setLevel(logging.DEBUG)  # the loggers' levels are the plugin's business
    assert not logging.getLogger("clusterdns").isEnabledFor(logging.DEBUG)
    with started(wrong_question) as upstream:
        text = f".:0 {{\n bind 127.0.0.1\n debug\n forward . {upstream.address} {{\n force_tcp\n }}\n}}\n"
        with running(text) as srv:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.bind(("127.0.0.1", 0))
                sock.sendto(b"\x12\x34\x01", ("127.0.0.1", srv.port))  # 3 bytes: no header
            reply = srv.udp("asked.example.", "A")
            assert reply.rcode() == dns.rcode.FORMERR
            assert logging.getLogger("clusterdns").isEnabledFor(logging.DEBUG)
    # the level goes back when the last debug plugin stops
    assert not logging.getLogger("clusterdns").isEnabledFor(logging.DEBUG)
    messages = [r.getMessage() for r in caplog.records]
    query_dump = [m for m in messages if "could not parse query" in m]
    assert query_dump and query_dump[0].endswith("debug: 000000 12 34 01\ndebug: 000003")
    assert any("malformed reply from" in m and "debug: 000000" in m for m in messages)
