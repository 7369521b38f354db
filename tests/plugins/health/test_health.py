"""health: lame duck keeps /health at 200 while ready goes 503; CoreDNS's behaviour on loopback."""

from __future__ import annotations

import asyncio
import time

import dns.flags
import dns.message
import dns.query
import dns.rdatatype

from tests.support.serverutil import RunningServer, http_get


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
        assert http_get(health_port, "/health") == (200, b"OK")
        assert http_get(ready_port, "/ready") == (200, b"OK")
        dns_host, dns_port = srv.host, srv.port
        stopping = asyncio.run_coroutine_threadsafe(srv.server.stop(), srv.loop)
        deadline = time.monotonic() + 1.0
        while http_get(ready_port, "/ready")[0] == 200 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not stopping.done()  # still in lame duck
        assert http_get(ready_port, "/ready") == (503, b"Shutting down")
        assert http_get(health_port, "/health") == (200, b"OK")
        reply = dns.query.udp(
            dns.message.make_query("x.test.", "A"), dns_host, port=dns_port, timeout=3
        )
        assert reply.rcode() == 0
        stopping.result(10)
    finally:
        srv.loop.call_soon_threadsafe(srv.loop.stop)
        srv.thread.join(10)
        srv.loop.close()
