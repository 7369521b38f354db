"""reload's metrics in CoreDNS's names (plugin/reload/metrics.go)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

FAILED = Counter("coredns_reload_failed", "Counter of the number of failed reload attempts.")
VERSION_INFO = Gauge(
    "coredns_reload_version_info",
    "A metric with a constant '1' value labeled by hash, and value which type of hash generated.",
    ["hash", "value"],
)
