"""Metric names, label sets and histogram buckets are an interface: pinned against CoreDNS's."""

from __future__ import annotations

import http.client
import math
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.serverutil import running

FIXTURE = Path(__file__).parent / "fixtures" / "metrics.txt"
CORE_EXACT = {"coredns_panics_total", "coredns_plugin_enabled", "coredns_build_info"}

COREFILE = """
example.test:0 {
    bind 127.0.0.1
    prometheus 127.0.0.1:0
    errors
    log
    hosts {
        10.0.0.1 web.example.test
    }
}
"""


def load_fixture() -> tuple[dict[str, tuple[str, frozenset[str]]], dict[str, list[float]]]:
    families: dict[str, tuple[str, frozenset[str]]] = {}
    buckets: dict[str, list[float]] = {}
    for line in FIXTURE.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        words = line.split()
        if words[0] == "plugin":
            continue  # pinned by test_plugin_metric_names
        if words[0] == "buckets":
            buckets[words[1]] = [float(w) for w in words[2:]]
        else:
            families[words[0]] = (words[1], frozenset(words[2:]))
    return families, buckets


def scrape(port: int) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/metrics")
        response = connection.getresponse()
        assert response.status == 200
        return response.read().decode()
    finally:
        connection.close()


def is_core(name: str) -> bool:
    """The server's own families; plugins' families (coredns_cache_..., ...) are not pinned here."""
    return name.startswith("coredns_dns_") or name in CORE_EXACT


@pytest.fixture(scope="module")
def exposition() -> str:
    with running(COREFILE) as srv:
        srv.udp("web.example.test.", "A")
        srv.tcp("web.example.test.", "A")
        srv.udp("web.example.test.", "A", use_edns=0, want_dnssec=True, payload=1232)
        srv.udp("nope.example.test.", "TXT")
        return scrape(srv.http_port("/metrics"))


def scraped_families(text: str) -> dict[str, tuple[str, frozenset[str], list]]:
    out = {}
    for family in text_string_to_metric_families(text):
        # The text parser drops a counter's "_total"; the scrape (and CoreDNS) has it.
        name = family.name + "_total" if family.type == "counter" else family.name
        labels = frozenset(k for s in family.samples for k in s.labels if k != "le")
        out[name] = (family.type, labels, family.samples)
    return out


def test_core_metric_names_types_and_labels_match_coredns(exposition: str) -> None:
    expected, _ = load_fixture()
    scraped = {
        name: (kind, labels)
        for name, (kind, labels, samples) in scraped_families(exposition).items()
        if is_core(name) and samples
    }
    assert scraped == expected


def test_histogram_buckets_match_coredns(exposition: str) -> None:
    _, expected = load_fixture()
    families = scraped_families(exposition)
    for name, bounds in expected.items():
        _, _, samples = families[name]
        les = sorted({float(s.labels["le"]) for s in samples if s.name.endswith("_bucket")})
        assert les == [*bounds, math.inf], name


def test_counts_follow_the_queries(exposition: str) -> None:
    families = scraped_families(exposition)
    requests = families["coredns_dns_requests_total"][2]
    assert sum(s.value for s in requests) == 4
    assert {(s.labels["proto"], s.labels["type"], s.labels["family"]) for s in requests} == {
        ("udp", "A", "1"),
        ("tcp", "A", "1"),
        ("udp", "TXT", "1"),
    }
    do = families["coredns_dns_do_requests_total"][2]
    assert [s.value for s in do] == [1]
    rcodes = {
        (s.labels["rcode"], s.labels["plugin"]): s.value
        for s in families["coredns_dns_responses_total"][2]
    }
    assert rcodes == {("NOERROR", "hosts"): 3, ("SERVFAIL", "hosts"): 1}
    enabled = {s.labels["name"] for s in families["coredns_plugin_enabled"][2]}
    assert {"errors", "log", "hosts", "prometheus"} <= enabled


def load_plugin_fixture() -> dict[str, tuple[str, frozenset[str]]]:
    families = {}
    for line in FIXTURE.read_text().splitlines():
        words = line.split()
        if words and words[0] == "plugin":
            families[words[1]] = (words[2], frozenset(words[3:]))
    return families


PLUGIN_COREFILE = """
example.test:0 {
    bind 127.0.0.1
    prometheus 127.0.0.1:0
    template IN A ok.example.test {
        answer "{{ .Name }} 60 IN A 10.0.0.1"
    }
    template IN A rr.example.test {
        answer "{{ .Name }} 60 IN A 10.0.0"
    }
    template IN A run.example.test {
        answer "{{ .Name }} 60 IN A {{ parseInt .Name 10 8 }}"
    }
}
"""


def test_plugin_metric_names_types_and_labels_match_coredns() -> None:
    expected = load_plugin_fixture()
    with running(PLUGIN_COREFILE) as srv:
        for name in ("a.ok.example.test.", "a.rr.example.test.", "a.run.example.test."):
            srv.udp(name, "A")
        families = scraped_families(scrape(srv.http_port("/metrics")))
    scraped = {name: (kind, labels) for name, (kind, labels, _) in families.items()}
    for name, shape in expected.items():
        assert scraped.get(name) == shape, name
