"""forward's metrics, in CoreDNS's names (plugin/forward/metrics.go, plugin/pkg/proxy/metrics.go)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from clusterdns.plugins.metrics import TIME_BUCKETS as DURATION_BUCKETS

PROXY_NAME = "forward"

REQUEST_DURATION = Histogram(
    "coredns_proxy_request_duration_seconds",
    "Histogram of the time each request took.",
    ["proxy_name", "to", "rcode"],
    buckets=DURATION_BUCKETS,
)
HEALTHCHECK_FAILURES = Counter(
    "coredns_proxy_healthcheck_failures",
    "Counter of the number of failed healthchecks.",
    ["proxy_name", "to"],
)
CONN_CACHE_HITS = Counter(
    "coredns_proxy_conn_cache_hits",
    "Counter of connection cache hits per upstream and protocol.",
    ["proxy_name", "to", "proto"],
)
CONN_CACHE_MISSES = Counter(
    "coredns_proxy_conn_cache_misses",
    "Counter of connection cache misses per upstream and protocol.",
    ["proxy_name", "to", "proto"],
)
HEALTHCHECK_BROKEN = Counter(
    "coredns_forward_healthcheck_broken",
    "Counter of the number of complete failures of the healthchecks.",
)
MAX_CONCURRENT_REJECTS = Counter(
    "coredns_forward_max_concurrent_rejects",
    "Counter of the number of queries rejected because the concurrent queries were at maximum.",
)
