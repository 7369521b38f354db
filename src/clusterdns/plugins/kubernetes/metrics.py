"""kubernetes's metrics: CoreDNS's names (plugin/kubernetes/metrics.go, object/metrics.go) and ours."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

#: client-go's request metrics as CoreDNS exports them; buckets are prometheus.DefBuckets
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: prometheus.ExponentialBuckets(0.001, 2, 20): 1 ms to about 17 minutes
PROGRAMMING_BUCKETS = tuple(0.001 * 2**i for i in range(20))

PROGRAMMING_DURATION = Histogram(
    "coredns_kubernetes_dns_programming_duration_seconds",
    "Histogram of the time (in seconds) it took to program a dns instance.",
    ["service_kind"],
    buckets=PROGRAMMING_BUCKETS,
)
REQUEST_DURATION = Histogram(
    "coredns_kubernetes_rest_client_request_duration_seconds",
    "Request latency in seconds. Broken down by verb and host.",
    ["verb", "host"],
    buckets=DEFAULT_BUCKETS,
)
REQUESTS = Counter(
    "coredns_kubernetes_rest_client_requests_total",
    "Number of HTTP requests, partitioned by status code, method, and host.",
    ["code", "method", "host"],
)
SKIPPED = Counter(
    "clusterdns_kubernetes_objects_skipped_total",
    "Objects from the API server skipped because they were malformed.",
    ["kind"],
)
DROPPED = Counter(
    "clusterdns_kubernetes_fields_dropped_total",
    "Fields of API objects left out of DNS (an address that does not parse, an FQDN "
    "slice...): each (object, field) once, not per relist.",
    ["kind"],
)
WATCH_UP = Gauge(
    "clusterdns_kubernetes_watch_up",
    "1 while the list/watch of a kind reaches the API server, 0 while it retries "
    "(answers keep coming from the last known state).",
    ["kind"],
)


class APIMetrics:
    """The ``kubeapi.Metrics`` the API source reports to."""

    def request(self, method: str, code: str, host: str, seconds: float) -> None:
        REQUESTS.labels(code, method, host).inc()
        REQUEST_DURATION.labels(method, host).observe(seconds)

    def skipped(self, kind: str) -> None:
        SKIPPED.labels(kind).inc()

    def dropped(self, kind: str) -> None:
        DROPPED.labels(kind).inc()

    def watch_up(self, kind: str, up: bool) -> None:
        WATCH_UP.labels(kind).set(1 if up else 0)


def observe_programming(service_kind: str, seconds: float) -> None:
    PROGRAMMING_DURATION.labels(service_kind).observe(max(0.0, seconds))
