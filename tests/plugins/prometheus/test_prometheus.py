"""prometheus: per server block, as CoreDNS's metrics plugin counts."""

from __future__ import annotations

from tests.support.serverutil import http_get, running


def test_prometheus_counts_only_the_blocks_it_is_in() -> None:
    """CoreDNS: the metrics handler sits in a block's chain (plugin/metrics/handler.go), so
    coredns_dns_requests_total counts queries of server blocks with prometheus only."""
    text = (
        "metered.test:0 {\n    bind 127.0.0.1\n    prometheus 127.0.0.1:0\n    whoami\n}\n"
        "plain.test:0 {\n    bind 127.0.0.1\n    whoami\n}\n"
    )
    with running(text) as srv:
        srv.udp("a.metered.test.")
        srv.udp("a.plain.test.")
        status, raw = http_get(srv.http_port("/metrics"), "/metrics")
    assert status == 200
    body = raw.decode()
    requests = [line for line in body.splitlines() if line.startswith("coredns_dns_requests_total")]
    assert any('zone="metered.test."' in line for line in requests), requests
    assert not any('zone="plain.test."' in line for line in requests), requests
