"""The statistics core: exact counts and moments, bounded-error percentiles, exact merges."""

from __future__ import annotations

import random

import pytest

from clusterdns.bench.stats import (
    BUCKETS,
    RELATIVE_ERROR,
    Histogram,
    RunStats,
    bucket_bounds,
    bucket_index,
    nearest_rank,
)


@pytest.mark.parametrize(
    "value",
    [0, 1, 255, 256, 257, 511, 512, 1000, 65_535, 1_000_000, 5_000_000_000, (1 << 40) - 1],
)
def test_every_value_falls_inside_its_bucket(value: int) -> None:
    low, high = bucket_bounds(bucket_index(value))
    assert low <= value < high
    assert (high - low) <= max(1, low * 2 * RELATIVE_ERROR)


def test_buckets_are_contiguous_and_cover_the_range() -> None:
    previous_high = 0
    for index in range(BUCKETS):
        low, high = bucket_bounds(index)
        assert low == previous_high
        previous_high = high
    assert previous_high == 1 << 40


@pytest.mark.parametrize(
    ("percent", "total", "rank"),
    [
        (50, 1, 1),
        (50, 2, 1),
        (50, 3, 2),
        (99, 100, 99),
        (99.9, 1000, 999),
        (99.9, 1001, 1000),
        (100, 7, 7),
        (0, 7, 1),
    ],
)
def test_nearest_rank(percent: float, total: int, rank: int) -> None:
    assert nearest_rank(percent, total) == rank


def _samples(kind: str, n: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    if kind == "uniform":
        return [rng.randrange(10_000, 2_000_000) for _ in range(n)]
    if kind == "lognormal":
        return [int(rng.lognormvariate(12, 1.5)) for _ in range(n)]
    if kind == "bimodal":  # most answers fast, a few after a 5 s timeout
        return [
            rng.randrange(50_000, 90_000)
            if rng.random() < 0.97
            else rng.randrange(5_000_000_000, 5_001_000_000)
            for _ in range(n)
        ]
    return [rng.randrange(0, 300) for _ in range(n)]  # small: exact buckets


@pytest.mark.parametrize("kind", ["uniform", "lognormal", "bimodal", "small"])
@pytest.mark.parametrize("n", [1, 7, 1000, 20_000])
def test_percentiles_within_stated_error_of_sorted_list(kind: str, n: int) -> None:
    values = _samples(kind, n, seed=n)
    hist = Histogram.from_values(values)
    ordered = sorted(values)
    assert hist.total == n
    assert hist.minimum == ordered[0]
    assert hist.maximum == ordered[-1]
    assert hist.sum == sum(values)
    assert hist.sumsq == sum(v * v for v in values)
    for percent in (0.1, 1, 25, 50, 90, 99, 99.9, 100):
        exact = ordered[nearest_rank(percent, n) - 1]
        estimate = hist.percentile(percent)
        assert abs(estimate - exact) <= exact * RELATIVE_ERROR, (percent, exact, estimate)


def test_small_values_are_exact() -> None:
    hist = Histogram.from_values([3, 1, 2, 200])
    assert [hist.percentile(p) for p in (25, 50, 75, 100)] == [1, 2, 3, 200]


def test_empty_histogram_reports_zero() -> None:
    hist = Histogram()
    assert (hist.percentile(99), hist.mean(), hist.stddev(), hist.power_of_two_rows()) == (
        0,
        0.0,
        0.0,
        [],
    )


def test_merge_equals_histogram_of_all_samples() -> None:
    a = _samples("lognormal", 5000, 1)
    b = _samples("bimodal", 3000, 2)
    merged = Histogram.from_values(a)
    merged.merge(Histogram.from_values(b))
    whole = Histogram.from_values(a + b)
    assert merged == whole


def _worker(values: list[int], timeouts: int, rcode: int) -> RunStats:
    stats = RunStats(
        sent=len(values) + timeouts, completed=len(values), timeouts=timeouts, elapsed_ns=10**9
    )
    for v in values:
        stats.latency.record(v)
        stats.interval(v // 1_000_000).completed += 1
    stats.rcodes[rcode] += len(values)
    return stats


def test_run_stats_merge_is_exact() -> None:
    a, b = _samples("uniform", 400, 3), _samples("lognormal", 600, 4)
    total = RunStats.merged([_worker(a, 2, 0), _worker(b, 5, 3)])
    assert (total.sent, total.completed, total.timeouts, total.workers) == (1007, 1000, 7, 2)
    assert total.rcode_counts() == {"NOERROR": 400, "NXDOMAIN": 600}
    assert total.latency == Histogram.from_values(a + b)
    assert sum(part.completed for part in total.timeline) == 1000
    assert total.qps() == pytest.approx(1000.0)


def test_power_of_two_rows_add_up() -> None:
    values = _samples("lognormal", 2000, 5)
    rows = Histogram.from_values(values).power_of_two_rows()
    assert sum(n for _, _, n in rows) == 2000
    assert all(low <= v for v in values for low, _, _ in rows[:1])
    assert all(v < rows[-1][1] for v in values)
