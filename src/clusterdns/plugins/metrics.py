"""Histogram buckets every metric of CoreDNS's shares (CoreDNS ``plugin/metrics.go``)."""

from __future__ import annotations

# plugin.TimeBuckets: prometheus.ExponentialBuckets(0.00025, 2, 16).
TIME_BUCKETS: tuple[float, ...] = tuple(0.00025 * 2**i for i in range(16))
# plugin.SizeBuckets.
SIZE_BUCKETS: tuple[float, ...] = (
    0, 100, 200, 300, 400, 511, 1023, 2047, 4095, 8291, 16e3, 32e3, 48e3, 64e3,
)  # fmt: skip
