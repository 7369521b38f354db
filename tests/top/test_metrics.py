"""top's arithmetic: a scrape as a snapshot, two snapshots as a window, percentiles from buckets."""

from __future__ import annotations

import math

import pytest

from clusterdns.top.metrics import parse, report
from clusterdns.top.report import quantile_from_buckets

# As CoreDNS 1.11 writes them (plugin/metrics/vars): its request duration has a "type" label
COREDNS_BEFORE = """\
# TYPE coredns_dns_requests_total counter
coredns_dns_requests_total{family="1",proto="udp",server="dns://:53",type="A",view="",zone="."} 100
coredns_dns_requests_total{family="1",proto="udp",server="dns://:53",type="AAAA",view="",zone="."} 50
# TYPE coredns_dns_responses_total counter
coredns_dns_responses_total{plugin="kubernetes",rcode="NOERROR",server="dns://:53",view="",zone="."} 120
coredns_dns_responses_total{plugin="kubernetes",rcode="NXDOMAIN",server="dns://:53",view="",zone="."} 30
# TYPE coredns_dns_request_duration_seconds histogram
coredns_dns_request_duration_seconds_bucket{server="dns://:53",type="A",view="",zone=".",le="0.001"} 100
coredns_dns_request_duration_seconds_bucket{server="dns://:53",type="A",view="",zone=".",le="0.002"} 150
coredns_dns_request_duration_seconds_bucket{server="dns://:53",type="A",view="",zone=".",le="+Inf"} 150
coredns_dns_request_duration_seconds_sum{server="dns://:53",type="A",view="",zone="."} 0.1
coredns_dns_request_duration_seconds_count{server="dns://:53",type="A",view="",zone="."} 150
# TYPE coredns_cache_hits_total counter
coredns_cache_hits_total{server="dns://:53",type="success",view="",zones="."} 40
# TYPE coredns_cache_misses_total counter
coredns_cache_misses_total{server="dns://:53",view="",zones="."} 110
"""
COREDNS_AFTER = """\
# TYPE coredns_dns_requests_total counter
coredns_dns_requests_total{family="1",proto="udp",server="dns://:53",type="A",view="",zone="."} 190
coredns_dns_requests_total{family="1",proto="udp",server="dns://:53",type="AAAA",view="",zone="."} 60
# TYPE coredns_dns_responses_total counter
coredns_dns_responses_total{plugin="kubernetes",rcode="NOERROR",server="dns://:53",view="",zone="."} 200
coredns_dns_responses_total{plugin="kubernetes",rcode="NXDOMAIN",server="dns://:53",view="",zone="."} 50
# TYPE coredns_dns_request_duration_seconds histogram
coredns_dns_request_duration_seconds_bucket{server="dns://:53",type="A",view="",zone=".",le="0.001"} 150
coredns_dns_request_duration_seconds_bucket{server="dns://:53",type="A",view="",zone=".",le="0.002"} 250
coredns_dns_request_duration_seconds_bucket{server="dns://:53",type="A",view="",zone=".",le="+Inf"} 250
coredns_dns_request_duration_seconds_sum{server="dns://:53",type="A",view="",zone="."} 0.2
coredns_dns_request_duration_seconds_count{server="dns://:53",type="A",view="",zone="."} 250
# TYPE coredns_cache_hits_total counter
coredns_cache_hits_total{server="dns://:53",type="success",view="",zones="."} 100
# TYPE coredns_cache_misses_total counter
coredns_cache_misses_total{server="dns://:53",view="",zones="."} 150
"""


def test_window_from_coredns_scrapes() -> None:
    """CoreDNS's families and labels: top needs nothing clusterdns-only for these counts."""
    window = report(parse(COREDNS_BEFORE), parse(COREDNS_AFTER), 10.0, "coredns")
    assert window.rcodes == {"NOERROR": 80, "NXDOMAIN": 20}
    assert window.types == {"A": 90, "AAAA": 10}
    assert window.queries == 100 and window.rate(window.queries) == 10.0
    # 50 of the 100 answers under 1 ms, the other 50 between 1 and 2 ms
    assert window.latency[0.5] == pytest.approx(0.001)
    assert window.latency[0.99] == pytest.approx(0.001 + 0.001 * 49 / 50)
    assert (window.cache_hits, window.cache_misses) == (60, 40)
    assert window.walk_wasted is None  # CoreDNS has no searchwalk
    assert window.to_json()["search_walk"] is None
    assert window.top_names is None and "top_names" in window.unavailable[0]


def test_a_restarted_server_counts_from_zero() -> None:
    """Prometheus's counter-reset rule: a smaller value means the counter started again."""
    window = report(parse(COREDNS_AFTER), parse(COREDNS_BEFORE), 1.0, "x")
    assert window.rcodes == {"NOERROR": 120, "NXDOMAIN": 30}


def test_searchwalk_families() -> None:
    text = """\
# TYPE clusterdns_search_expansion_wasted_total counter
clusterdns_search_expansion_wasted_total{namespace="shop"} %d
clusterdns_search_expansion_wasted_total{namespace="billing"} 4
# TYPE clusterdns_search_expansion_top_wasted gauge
clusterdns_search_expansion_top_wasted{namespace="shop",name="api.example.com"} 30
clusterdns_search_expansion_top_wasted{namespace="billing",name="db"} 4
"""
    window = report(parse(text % 10), parse(text % 40), 3.0, "x")
    assert window.walk_wasted == 30 and window.walk_by_namespace == {"shop": 30}
    assert window.top_wasted == (("shop", "api.example.com", 30), ("billing", "db", 4))


def test_searchwalk_present_before_its_first_walk() -> None:
    text = "# HELP clusterdns_search_expansion_wasted_total x\n# TYPE clusterdns_search_expansion_wasted_total counter\n"
    window = report(parse(text), parse(text), 1.0, "x")
    assert window.walk_wasted == 0


INF = math.inf


@pytest.mark.parametrize(
    "q, buckets, expected",
    [
        (0.5, [(1.0, 10), (2.0, 20), (INF, 20)], 1.0),  # the rank on a bound
        (0.75, [(1.0, 10), (2.0, 20), (INF, 20)], 1.5),  # interpolated in (1, 2]
        (0.25, [(1.0, 10), (2.0, 20), (INF, 20)], 0.5),  # the first bucket starts at 0
        (0.99, [(1.0, 10), (2.0, 10), (INF, 20)], 2.0),  # in +Inf: the highest finite bound
        (0.5, [(1.0, 0), (INF, 0)], None),  # nothing observed
        (0.5, [(1.0, 5)], None),  # no +Inf bucket
    ],
)  # fmt: skip
def test_quantile_as_prometheus_histogram_quantile(
    q: float, buckets: list[tuple[float, float]], expected: float | None
) -> None:
    """promql/quantile.go's bucketQuantile: linear inside the bucket, lowest bucket from 0."""
    assert quantile_from_buckets(q, buckets) == expected
