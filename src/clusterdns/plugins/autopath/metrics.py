"""autopath's metrics in CoreDNS's names (plugin/autopath/metrics.go)."""

from __future__ import annotations

from prometheus_client import Counter

SUCCESS = Counter(
    "coredns_autopath_success_total", "Counter of requests that did autopath.", ["server"]
)
