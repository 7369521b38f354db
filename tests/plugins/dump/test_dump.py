"""dump: a line per query on arrival, memo hits too."""

from __future__ import annotations

import logging
import socket

import dns.message
import dns.rcode
import pytest

from tests.support.serverutil import running


def test_dump_logs_every_query_on_arrival_memo_hits_included(
    caplog: pytest.LogCaptureFixture,
) -> None:
    text = ".:0 {\n bind 127.0.0.1\n dump\n whoami\n}\n"
    caplog.set_level(logging.INFO, logger="clusterdns.plugins.dump")
    with running(text) as srv:
        query = dns.message.make_query("Example.NET.", "MX", use_edns=0, payload=1232)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(3)
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            for _ in range(2):  # the second one is answered from the memo
                sock.sendto(query.to_wire(), ("127.0.0.1", srv.port))
                sock.recv(65535)
    lines = [r.getMessage() for r in caplog.records if r.name == "clusterdns.plugins.dump"]
    size = len(query.to_wire())
    expected = f"[INFO] 127.0.0.1 - {query.id} MX IN example.net. udp {port} {size} false 1232"
    assert lines == [expected, expected]
