"""health, ready and whoami: CoreDNS's behaviour, through a real server on loopback."""

from __future__ import annotations

import asyncio
import http.client
import time

import dns.flags
import dns.message
import dns.query
import dns.rdatatype
import pytest

from clusterdns.corefile.model import Directive
from clusterdns.errors import ConfigError
from clusterdns.plugins.plugin import SetupContext
from clusterdns.plugins.ready.setup import setup as ready_setup
from clusterdns.plugins.whoami.handler import Whoami
from tests.support.serverutil import RunningServer, running


def get(port: int, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_lameduck_health_stays_200_ready_goes_503_and_dns_is_answered() -> None:
    """CoreDNS plugin/health/README.md: during lameduck "/health will still answer 200 OK",
    and "the ready plugin will not answer OK while CoreDNS is in lame duck mode"
    (plugin/ready/ready.go answers 503 "Shutting down")."""
    text = (
        ".:0 {\n    bind 127.0.0.1\n    health 127.0.0.1:0 {\n        lameduck 1500ms\n    }\n"
        "    ready 127.0.0.1:0\n    whoami\n}\n"
    )
    srv = RunningServer(text).start()
    try:
        health_port, ready_port = srv.http_port("/health"), srv.http_port("/ready")
        assert get(health_port, "/health") == (200, b"OK")
        assert get(ready_port, "/ready") == (200, b"OK")
        dns_host, dns_port = srv.host, srv.port
        stopping = asyncio.run_coroutine_threadsafe(srv.server.stop(), srv.loop)
        deadline = time.monotonic() + 1.0
        while get(ready_port, "/ready")[0] == 200 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not stopping.done()  # still in lame duck
        assert get(ready_port, "/ready") == (503, b"Shutting down")
        assert get(health_port, "/health") == (200, b"OK")
        reply = dns.query.udp(
            dns.message.make_query("x.test.", "A"), dns_host, port=dns_port, timeout=3
        )
        assert reply.rcode() == 0
        stopping.result(10)
    finally:
        srv.loop.call_soon_threadsafe(srv.loop.stop)
        srv.thread.join(10)
        srv.loop.close()


@pytest.mark.parametrize(("monitor", "after_flap"), [("until-ready", 200), ("continuously", 503)])
def test_ready_monitor_modes(
    monkeypatch: pytest.MonkeyPatch, monitor: str, after_flap: int
) -> None:
    """CoreDNS plugin/ready/README.md: until-ready stops asking a plugin once it was ready;
    continuously asks every time, so a plugin can go back to not ready."""
    state = {"ready": False}
    monkeypatch.setattr(Whoami, "ready", lambda self: state["ready"])
    text = (
        f".:0 {{\n    bind 127.0.0.1\n    ready 127.0.0.1:0 {{\n        monitor {monitor}\n"
        "    }\n    whoami\n}\n"
    )
    with running(text) as srv:
        port = srv.http_port("/ready")
        assert get(port, "/ready") == (503, b"whoami")
        state["ready"] = True
        assert get(port, "/ready") == (200, b"OK")
        state["ready"] = False
        assert get(port, "/ready")[0] == after_flap


def test_ready_counts_only_the_blocks_that_enable_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """CoreDNS plugin/ready/README.md: each server block that enables ready has the plugins
    *in that block* report readiness."""
    monkeypatch.setattr(Whoami, "ready", lambda self: False)
    text = (
        "a.test:0 {\n    bind 127.0.0.1\n    ready 127.0.0.1:0\n}\n"
        "b.test:0 {\n    bind 127.0.0.1\n    whoami\n}\n"
    )
    with running(text) as srv:
        assert get(srv.http_port("/ready"), "/ready") == (200, b"OK")


def test_ready_options_are_checked() -> None:
    ctx = SetupContext((".",), (".",), 53, "Corefile")
    bad = Directive(
        "ready", (), (Directive("monitor", ("sometimes",), (), "Corefile", 3),), "Corefile", 2
    )
    with pytest.raises(
        ConfigError, match="plugin/ready: Corefile:3: monitor type 'sometimes' not supported"
    ):
        ready_setup(bad, ctx)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_whoami_reports_address_port_and_transport(transport: str) -> None:
    """CoreDNS plugin/whoami/README.md: empty answer; the client's IP as A/AAAA and
    `_<transport>.qname. 0 IN SRV 0 0 <port> .` in the additional section."""
    with running(".:0 {\n    bind 127.0.0.1\n    whoami\n}\n") as srv:
        query = dns.message.make_query("Who.Example.", "A")
        send = dns.query.udp if transport == "udp" else dns.query.tcp
        reply = send(query, srv.host, port=srv.port, timeout=3)
        assert reply.answer == []
        assert reply.flags & dns.flags.AA
        [address] = [rr for rr in reply.additional if rr.rdtype == dns.rdatatype.A]
        [srv_rr] = [rr for rr in reply.additional if rr.rdtype == dns.rdatatype.SRV]
        assert [rd.address for rd in address] == ["127.0.0.1"]
        assert srv_rr.name.to_text().lower() == f"_{transport}.who.example."
        [rd] = list(srv_rr)
        assert rd.target.to_text() == "." and 0 < rd.port < 65536


def test_whoami_for_the_root_name() -> None:
    with running(".:0 {\n    bind 127.0.0.1\n    whoami\n}\n") as srv:
        reply = srv.udp(".", "A")
        [srv_rr] = [rr for rr in reply.additional if rr.rdtype == dns.rdatatype.SRV]
        assert srv_rr.name.to_text() == "_udp."
