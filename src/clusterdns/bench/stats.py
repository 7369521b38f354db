"""Exact load-test statistics in bounded memory.

Latencies are integer nanoseconds.  They go into HDR-style log buckets: values
below 2**SUB_BITS ns each have their own bucket (exact); above that every
power-of-two range is split into 2**(SUB_BITS-1) equal buckets, so a bucket is
never wider than 1/2**(SUB_BITS-1) of its lower bound.  Counts per bucket, the
total, the minimum, the maximum, the sum and the sum of squares are exact.  A
percentile is the midpoint of the bucket that holds the nearest-rank sample
(clamped to the exact min/max), so it is within ``RELATIVE_ERROR`` (1/256, about
0.4 %) of the exact nearest-rank value of the sorted list of all samples.

Merging two histograms adds counts, so per-worker statistics merge exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

SUB_BITS = 8
HALF = 1 << (SUB_BITS - 1)
RELATIVE_ERROR = 1.0 / (1 << SUB_BITS)
# 2**40 ns is about 18 minutes: longer latencies are clamped into the last bucket.
MAX_BITS = 40
BUCKETS = ((MAX_BITS - SUB_BITS + 1) << (SUB_BITS - 1)) + HALF
MAX_VALUE = (1 << MAX_BITS) - 1

RCODE_NAMES = (
    "NOERROR",
    "FORMERR",
    "SERVFAIL",
    "NXDOMAIN",
    "NOTIMP",
    "REFUSED",
    "YXDOMAIN",
    "YXRRSET",
    "NXRRSET",
    "NOTAUTH",
    "NOTZONE",
    "RCODE11",
    "RCODE12",
    "RCODE13",
    "RCODE14",
    "RCODE15",
)


def bucket_index(value: int) -> int:
    """The bucket of a latency in ns (the hot loops inline this same arithmetic)."""
    if value > MAX_VALUE:
        value = MAX_VALUE
    bits = value.bit_length()
    if bits <= SUB_BITS:
        return value
    shift = bits - SUB_BITS
    return (shift << (SUB_BITS - 1)) + (value >> shift)


def bucket_bounds(index: int) -> tuple[int, int]:
    """The half-open range [low, high) of latencies (ns) that fall in bucket ``index``."""
    if index < (1 << SUB_BITS):
        return index, index + 1
    shift = (index >> (SUB_BITS - 1)) - 1
    mantissa = index - (shift << (SUB_BITS - 1))
    return mantissa << shift, (mantissa + 1) << shift


def nearest_rank(percent: float, total: int) -> int:
    """1-based nearest rank of ``percent`` among ``total`` samples, in exact integer arithmetic."""
    milli = round(percent * 1000)
    return max(1, -(-milli * total // 100_000))


@dataclass(slots=True)
class Histogram:
    """Mutable latency histogram with exact count, min, max, sum and sum of squares."""

    counts: list[int] = field(default_factory=lambda: [0] * BUCKETS)
    total: int = 0
    minimum: int = 0
    maximum: int = 0
    sum: int = 0
    sumsq: int = 0

    def record(self, value: int) -> None:
        self.counts[bucket_index(value)] += 1
        self.add_moments(
            total=1, minimum=value, maximum=value, total_sum=value, sumsq=value * value
        )

    def add_moments(
        self, total: int, minimum: int, maximum: int, total_sum: int, sumsq: int
    ) -> None:
        """Fold in the exact moments of ``total`` samples whose buckets were already counted."""
        if total == 0:
            return
        if self.total == 0 or minimum < self.minimum:
            self.minimum = minimum
        if maximum > self.maximum:
            self.maximum = maximum
        self.total += total
        self.sum += total_sum
        self.sumsq += sumsq

    def merge(self, other: Histogram) -> None:
        for i, n in enumerate(other.counts):
            if n:
                self.counts[i] += n
        self.add_moments(
            total=other.total,
            minimum=other.minimum,
            maximum=other.maximum,
            total_sum=other.sum,
            sumsq=other.sumsq,
        )

    def percentile(self, percent: float) -> int:
        """Nearest-rank percentile in ns, within RELATIVE_ERROR of the exact value; 0 when empty."""
        if self.total == 0:
            return 0
        rank = nearest_rank(percent, self.total)
        seen = 0
        for index, n in enumerate(self.counts):
            seen += n
            if seen >= rank:
                low, high = bucket_bounds(index)
                middle = (low + high - 1) // 2 if high - low > 1 else low
                return min(max(middle, self.minimum), self.maximum)
        return self.maximum

    def mean(self) -> float:
        return self.sum / self.total if self.total else 0.0

    def stddev(self) -> float:
        if self.total < 2:
            return 0.0
        variance = (self.sumsq - self.sum * self.sum / self.total) / (self.total - 1)
        return math.sqrt(max(variance, 0.0))

    def power_of_two_rows(self) -> list[tuple[int, int, int]]:
        """Counts regrouped into [2**k, 2**(k+1)) ns rows, from the min's row to the max's row."""
        if self.total == 0:
            return []
        rows: dict[int, int] = {}
        for index, n in enumerate(self.counts):
            if n:
                low, _ = bucket_bounds(index)
                k = max(low.bit_length() - 1, 0)
                rows[k] = rows.get(k, 0) + n
        first, last = min(rows), max(rows)
        return [(1 << k if k else 0, 1 << (k + 1), rows.get(k, 0)) for k in range(first, last + 1)]

    @classmethod
    def from_values(cls, values: Iterable[int]) -> Histogram:
        hist = cls()
        for value in values:
            hist.record(value)
        return hist


@dataclass(slots=True)
class Interval:
    """What happened during one timeline interval (a fixed slice of the run)."""

    completed: int = 0
    timeouts: int = 0
    latency_sum: int = 0
    latency_max: int = 0

    def merge(self, other: Interval) -> None:
        self.completed += other.completed
        self.timeouts += other.timeouts
        self.latency_sum += other.latency_sum
        self.latency_max = max(self.latency_max, other.latency_max)


@dataclass(slots=True)
class RunStats:
    """Everything one load run (or the merge of several workers' runs) counted."""

    mode: str = "udp"
    sent: int = 0  # queries sent (resolver mode: lookups started)
    completed: int = 0
    timeouts: int = 0
    try_timeouts: int = 0  # resolver mode: tries that ended without every answer
    packets: int = 0  # queries put on the wire (resolver mode: several per lookup)
    mismatched: int = 0
    truncated: int = 0
    socket_errors: int = 0
    over_limit: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    rcodes: list[int] = field(default_factory=lambda: [0] * 16)
    latency: Histogram = field(default_factory=Histogram)
    interval_ns: int = 100_000_000
    timeline: list[Interval] = field(default_factory=list)
    elapsed_ns: int = 0
    workers: int = 1

    def interval(self, index: int) -> Interval:
        while len(self.timeline) <= index:
            self.timeline.append(Interval())
        return self.timeline[index]

    def qps(self) -> float:
        return self.completed * 1e9 / self.elapsed_ns if self.elapsed_ns else 0.0

    def merge(self, other: RunStats) -> None:
        """Add another worker's counts: every counter and bucket adds exactly."""
        for name in (
            "sent",
            "completed",
            "timeouts",
            "try_timeouts",
            "packets",
            "mismatched",
            "truncated",
            "socket_errors",
            "over_limit",
            "bytes_sent",
            "bytes_received",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for rcode, n in enumerate(other.rcodes):
            self.rcodes[rcode] += n
        self.latency.merge(other.latency)
        for index, part in enumerate(other.timeline):
            self.interval(index).merge(part)
        # Workers run side by side from a common start: the run lasts as long as the longest.
        self.elapsed_ns = max(self.elapsed_ns, other.elapsed_ns)

    @classmethod
    def merged(cls, parts: Sequence[RunStats]) -> RunStats:
        if not parts:
            return cls()
        total = cls(mode=parts[0].mode, interval_ns=parts[0].interval_ns, workers=len(parts))
        for part in parts:
            total.merge(part)
        return total

    def rcode_counts(self) -> dict[str, int]:
        return {RCODE_NAMES[rcode]: n for rcode, n in enumerate(self.rcodes) if n}
