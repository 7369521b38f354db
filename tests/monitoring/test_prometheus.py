"""End to end with a real Prometheus (Debian's package) on loopback: it scrapes a running
clusterdns whose forward upstream is a stopped server; the forward alert fires, then resolves
once the upstream starts; and every dashboard query is accepted by Prometheus's query API and
the ones for what this server has return series.

The rules are the shipped ones with every range window at 5 s and every ``for:`` at 2 s
(``fast_rules``): the same expressions, on a test's time scale. One Prometheus for the module.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources

import dns.message
import dns.query
import dns.rcode
import pytest

from tests.support.monitoring import (
    MONITORING,
    RULES,
    ClusterDNSProcess,
    Prometheus,
    fast_rules,
    wait_until,
)
from tests.support.upstream import FakeUpstream, free_port, records

pytestmark = pytest.mark.skipif(
    shutil.which("prometheus") is None, reason="prometheus: apt-get install prometheus"
)

ALERT = "ClusterDNSForwardUpstreamUnhealthy"
JOB = "clusterdns"
EXTERNAL = {"www.example.com. A": ["192.0.2.1"], "www.example.com. AAAA": ["2001:db8::1"]}
# Queries whose families this server cannot have: no Kubernetes API source (it reads
# manifests), no node cache, and no "every upstream down" unless the outage lasted long enough.
# These are checked for acceptance only.
ACCEPT_ONLY = (
    "clusterdns_kubernetes_watch_up",
    "clusterdns_kubernetes_objects_skipped_total",
    "clusterdns_kubernetes_fields_dropped_total",
    "coredns_kubernetes_dns_programming_duration_seconds",
    "coredns_kubernetes_rest_client_requests_total",
    "coredns_nodecache_setup_errors_total",
    "coredns_forward_healthcheck_broken_total",
)
VARIABLES = {
    "$__rate_interval": "15s",
    "$nodecache_job": "clusterdns-nodecache",
    "$instance": ".+",
    "$job": JOB,
}

COREFILE = """
.:{dns_port} {{
    bind 127.0.0.1
    errors
    prometheus 127.0.0.1:{metrics_port}
    reload
    searchwalk
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        manifests {sample}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    cache 30
    forward . 127.0.0.1:{upstream_port} {{
        health_check 0.5s
    }}
}}
"""


@dataclass(frozen=True, slots=True)
class Stack:
    prometheus: Prometheus
    server: ClusterDNSProcess
    upstream_port: int


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    directory = tmp_path_factory.mktemp("monitoring")
    stopped = FakeUpstream(records(EXTERNAL))  # a real server, stopped: its port refuses
    upstream_port = stopped.port
    stopped.stop()
    sample = resources.files("clusterdns.cluster").joinpath("sample/cluster.yaml")
    dns_port, metrics_port = free_port(), free_port()
    corefile = COREFILE.format(
        dns_port=dns_port, metrics_port=metrics_port, upstream_port=upstream_port, sample=sample
    )
    server = ClusterDNSProcess(directory, corefile, dns_port, metrics_port)
    rules = directory / "rules.yaml"
    rules.write_text(fast_rules(RULES.read_text()))
    try:
        prometheus = Prometheus(directory, {JOB: f"127.0.0.1:{metrics_port}"}, [rules])
    except BaseException:
        server.stop()
        raise
    try:
        yield Stack(prometheus, server, upstream_port)
    finally:
        prometheus.stop()
        server.stop()


def ask(stack: Stack, name: str, rdtype: str = "A") -> int:
    query = dns.message.make_query(name, rdtype)
    reply = dns.query.udp(query, "127.0.0.1", port=stack.server.dns_port, timeout=5)
    return reply.rcode()


def alert_state(stack: Stack) -> str | None:
    """The state of the forward alert for our upstream, None while it is not active."""
    to = f"127.0.0.1:{stack.upstream_port}"
    states = [a["state"] for a in stack.prometheus.alerts(ALERT) if a["labels"].get("to") == to]
    return states[0] if states else None


def test_forward_alert_fires_while_the_upstream_is_down_and_resolves_when_it_starts(
    stack: Stack,
) -> None:
    """As CoreDNS's forward: a failed query starts health checks every health_check interval,
    each failure counted in coredns_proxy_healthcheck_failures_total{to}, until one succeeds."""
    assert ask(stack, "www.example.com") == dns.rcode.SERVFAIL
    firing = wait_until(
        lambda: True if alert_state(stack) == "firing" else None, 40, f"{ALERT} to fire"
    )
    assert firing
    (alert,) = [a for a in stack.prometheus.alerts(ALERT) if a["state"] == "firing"]
    assert alert["labels"]["job"] == JOB and alert["labels"]["severity"] == "warning"
    assert f"of upstream 127.0.0.1:{stack.upstream_port}" in alert["annotations"]["description"]

    with FakeUpstream(records(EXTERNAL), port=stack.upstream_port):
        wait_until(
            lambda: True if ask(stack, "www.example.com") == dns.rcode.NOERROR else None,
            15,
            "the forwarded name to resolve",
        )
        wait_until(lambda: True if alert_state(stack) is None else None, 40, f"{ALERT} to resolve")


def serve_traffic(stack: Stack) -> int:
    """A bounded mix: cluster names (NOERROR, NXDOMAIN), a search-list walk, external names."""
    sent = 0
    for _ in range(5):
        for name, rdtype in [
            ("kubernetes.default.svc.cluster.local", "A"),
            ("kubernetes.default.svc.cluster.local", "AAAA"),
            ("nothing-here.default.svc.cluster.local", "A"),
            # a pod in "default" with ndots:5 looking up www.example.com
            ("www.example.com.default.svc.cluster.local", "A"),
            ("www.example.com.svc.cluster.local", "A"),
            ("www.example.com.cluster.local", "A"),
            ("www.example.com", "A"),
        ]:
            ask(stack, name, rdtype)
            sent += 1
    return sent


def panel_queries() -> list[tuple[str, str]]:
    board = json.loads((MONITORING / "dashboard.json").read_text())
    queries = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in VARIABLES.items():
                expr = expr.replace(variable, value)
            queries.append((panel["title"], expr))
    return queries


def test_every_dashboard_query_is_accepted_and_returns_series(stack: Stack) -> None:
    # one query while the upstream is stopped, so the forward health panel has failures to show
    assert ask(stack, "www.example.org") == dns.rcode.SERVFAIL
    with FakeUpstream(records(EXTERNAL), port=stack.upstream_port):
        sent = 1 + serve_traffic(stack)
    wait_until(
        lambda: (
            True
            if stack.prometheus.query(f'sum(coredns_dns_requests_total{{job="{JOB}"}}) >= {sent}')
            else None
        ),
        20,
        "Prometheus to scrape the traffic",
    )
    queries = panel_queries()
    for title, expr in queries:
        try:
            stack.prometheus.query(expr)
        except AssertionError as exc:  # Prometheus refused it: say which panel
            raise AssertionError(f"panel {title!r}: {exc}") from None
    expected = [(t, e) for t, e in queries if not any(f in e for f in ACCEPT_ONLY)]

    missing: list[tuple[str, str]] = []

    def every_query_has_series() -> bool | None:
        missing[:] = [(t, e) for t, e in expected if not stack.prometheus.query(e)]
        return True if not missing else None

    try:
        wait_until(every_query_has_series, 20, "a series for every query")
    except AssertionError:
        raise AssertionError(f"queries with no series: {missing}") from None
