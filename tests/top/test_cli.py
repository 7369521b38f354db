"""`clusterdns top --once --json` against a running server under a known, bounded load.

The server is a `clusterdns serve` subprocess, so its counters hold only this test's queries.
top announces on stderr when its window starts; the test then sends its queries, all well
inside the window, and top's counts must be exactly what was sent.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.monitoring import CLUSTERDNS, ClusterDNSProcess, wait_until
from tests.support.upstream import free_port

INTERVAL = 4.0
TAP_INTERVAL = 8.0  # the window also holds the server's start and its dnstap connection
NOERROR_QUERIES = 30
NXDOMAIN_QUERIES = 12
WALK = [  # a pod in "default" with ndots:5 looking up api.example.com: 3 wasted steps
    "api.example.com.default.svc.cluster.local",
    "api.example.com.svc.cluster.local",
    "api.example.com.cluster.local",
]

COREFILE = """
.:{dns_port} {{
    bind 127.0.0.1
    prometheus 127.0.0.1:{metrics_port}
    {dnstap}
    searchwalk
    kubernetes cluster.local {{
        manifests {sample}
    }}
    template IN A example.com {{
        answer "{{{{ .Name }}}} 60 IN A 192.0.2.1"
    }}
}}
"""


def corefile(dns_port: int, metrics_port: int, dnstap: str = "") -> str:
    sample = resources.files("clusterdns.cluster").joinpath("sample/cluster.yaml")
    return COREFILE.format(
        dns_port=dns_port, metrics_port=metrics_port, dnstap=dnstap, sample=sample
    )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ClusterDNSProcess]:
    dns_port, metrics_port = free_port(), free_port()
    process = ClusterDNSProcess(tmp_path, corefile(dns_port, metrics_port), dns_port, metrics_port)
    yield process
    process.stop()


def dnstap_sent(server: ClusterDNSProcess) -> float:
    with urllib.request.urlopen(server.metrics_url, timeout=5) as response:
        text = response.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "clusterdns_dnstap_sent_total"
    )


def ask(port: int, name: str, rdtype: str = "A") -> int:
    reply = dns.query.udp(dns.message.make_query(name, rdtype), "127.0.0.1", port=port, timeout=3)
    return reply.rcode()


def send_load(port: int) -> None:
    """The known load: NOERROR and NXDOMAIN cluster names, and one search-list walk."""
    for _ in range(NOERROR_QUERIES - 1):
        assert ask(port, "kubernetes.default.svc.cluster.local") == dns.rcode.NOERROR
    for index in range(NXDOMAIN_QUERIES - len(WALK)):
        assert ask(port, f"nothing-{index % 3}.default.svc.cluster.local") == dns.rcode.NXDOMAIN
    for name in WALK:
        assert ask(port, name) == dns.rcode.NXDOMAIN
    assert ask(port, "api.example.com") == dns.rcode.NOERROR  # ends the walk


def start_top(*args: str, interval: float = INTERVAL) -> subprocess.Popen[str]:
    top = subprocess.Popen(
        [str(CLUSTERDNS), "top", "--once", "--json", "--interval", str(interval), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert top.stderr is not None
    line = top.stderr.readline()  # the window has started
    assert line.startswith("clusterdns top: sampling"), line + top.stderr.read()
    return top


def finish(top: subprocess.Popen[str]) -> dict:
    out, err = top.communicate(timeout=TAP_INTERVAL + 20)
    assert top.returncode == 0, err
    return json.loads(out)


def test_once_json_from_metrics_counts_the_rcodes_sent(server: ClusterDNSProcess) -> None:
    top = start_top(server.metrics_url)
    send_load(server.dns_port)
    report = finish(top)
    assert report["source"] == "metrics"
    assert report["rcodes"]["NOERROR"]["count"] == NOERROR_QUERIES
    assert report["rcodes"]["NXDOMAIN"]["count"] == NXDOMAIN_QUERIES
    assert report["queries"] == NOERROR_QUERIES + NXDOMAIN_QUERIES
    assert report["types"] == {
        "A": {"count": report["queries"], "qps": report["types"]["A"]["qps"]}
    }
    assert set(report["latency"]) == {"p50", "p90", "p99"}
    assert report["search_walk"]["wasted"] == len(WALK)
    assert report["search_walk"]["by_namespace"]["default"]["count"] == len(WALK)
    assert report["top_names"] is None
    assert any("--dnstap" in line for line in report["unavailable"])


def test_once_json_from_dnstap_names_the_top_names_and_clients(tmp_path: Path) -> None:
    """top listens where the server's dnstap plugin sends (`dnstap unix://PATH full`)."""
    socket_path = tmp_path / "dnstap.sock"
    top = start_top("--dnstap", str(socket_path), interval=TAP_INTERVAL)
    dns_port, metrics_port = free_port(), free_port()
    dnstap = f"dnstap unix://{socket_path} full"
    server = ClusterDNSProcess(
        tmp_path, corefile(dns_port, metrics_port, dnstap), dns_port, metrics_port
    )
    try:
        # queries before the dnstap connection is up are not seen: wait for one that is sent
        def connected() -> bool | None:
            ask(dns_port, "probe.default.svc.cluster.local")
            return True if dnstap_sent(server) > 0 else None

        wait_until(connected, 3, "the server's dnstap connection")
        send_load(dns_port)
        report = finish(top)
    finally:
        server.stop()
        if top.poll() is None:
            top.kill()
    assert report["source"] == "dnstap"
    names = {row["key"]: row["count"] for row in report["top_names"]}
    assert names["kubernetes.default.svc.cluster.local."] == NOERROR_QUERIES - 1
    nxdomain = {row["key"]: row["count"] for row in report["top_nxdomain"]}
    assert nxdomain["nothing-0.default.svc.cluster.local."] == 3
    assert [row["key"] for row in report["top_clients"]] == ["127.0.0.1"]
    assert report["search_walk"]["top_names"] == [
        {"namespace": "default", "name": "api.example.com", "wasted": len(WALK)}
    ]


def test_live_view_draws_the_tables(server: ClusterDNSProcess) -> None:
    """Without --json: rich's tables (printed once when stdout is not a terminal)."""
    ask(server.dns_port, "kubernetes.default.svc.cluster.local")
    result = subprocess.run(
        [str(CLUSTERDNS), "top", "--once", "--interval", "1", server.metrics_url],
        capture_output=True,
        text=True,
        timeout=30,
        env={"COLUMNS": "140", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    for heading in ("by rcode", "by type", "top names", "needs --dnstap", "search-walk waste"):
        assert heading in result.stdout
