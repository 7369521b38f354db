"""A Prometheus text scrape of a DNS server as a snapshot of the counters ``top`` reads.

The families are CoreDNS's (``coredns_dns_responses_total{rcode}``,
``coredns_dns_requests_total{type}``, ``coredns_dns_request_duration_seconds``,
``coredns_cache_hits_total`` / ``_misses_total``), so a CoreDNS server works too, and
clusterdns's searchwalk families when present. No I/O: the text comes in, values go out.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from clusterdns.top.report import QUANTILES, Report, quantile_from_buckets


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Counter values at one scrape, summed over the labels ``top`` does not split by."""

    rcodes: dict[str, float]
    types: dict[str, float]
    duration_buckets: dict[float, float]  # upper bound -> cumulative count
    cache_hits: float | None = None
    cache_misses: float | None = None
    walk_wasted: dict[str, float] | None = None  # namespace -> wasted
    top_wasted: dict[tuple[str, str], float] = field(default_factory=dict)


def parse(text: str) -> Snapshot:
    rcodes: dict[str, float] = defaultdict(float)
    types: dict[str, float] = defaultdict(float)
    buckets: dict[float, float] = defaultdict(float)
    hits = misses = None
    wasted: dict[str, float] | None = None
    top: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "clusterdns_search_expansion_wasted" and wasted is None:
            wasted = {}  # searchwalk is there, even before its first walk
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, sample.value
            if name == "coredns_dns_responses_total":
                rcodes[labels.get("rcode", "?")] += value
            elif name == "coredns_dns_requests_total":
                types[labels.get("type", "?")] += value
            elif name == "coredns_dns_request_duration_seconds_bucket":
                buckets[float(labels["le"])] += value
            elif name == "coredns_cache_hits_total":
                hits = (hits or 0.0) + value
            elif name == "coredns_cache_misses_total":
                misses = (misses or 0.0) + value
            elif name == "clusterdns_search_expansion_wasted_total":
                wasted = wasted or {}
                namespace = labels.get("namespace", "")
                wasted[namespace] = wasted.get(namespace, 0.0) + value
            elif name == "clusterdns_search_expansion_top_wasted":
                top[(labels.get("namespace", ""), labels.get("name", ""))] = value
    return Snapshot(dict(rcodes), dict(types), dict(buckets), hits, misses, wasted, top)


def _increase(before: float | None, after: float | None) -> int:
    """A counter's increase; a smaller value means the server restarted (Prometheus's reset rule)."""
    if after is None:
        return 0
    if before is None or after < before:
        return int(round(after))
    return int(round(after - before))


def _increases(before: dict[str, float], after: dict[str, float]) -> dict[str, int]:
    grown = {key: _increase(before.get(key), value) for key, value in after.items()}
    return {key: count for key, count in grown.items() if count}


def report(before: Snapshot, after: Snapshot, seconds: float, target: str) -> Report:
    """What happened between two scrapes ``seconds`` apart."""
    buckets = [
        (bound, float(_increase(before.duration_buckets.get(bound), count)))
        for bound, count in after.duration_buckets.items()
    ]
    latency: dict[float, float] = {}
    for q in QUANTILES:
        value = quantile_from_buckets(q, buckets)
        if value is not None:
            latency[q] = value
    walk_wasted: int | None = None
    by_namespace: dict[str, int] = {}
    if after.walk_wasted is not None:
        by_namespace = _increases(before.walk_wasted or {}, after.walk_wasted)
        walk_wasted = sum(by_namespace.values())
    top = sorted(after.top_wasted.items(), key=lambda kv: (-kv[1], kv[0]))
    return Report(
        source="metrics",
        target=target,
        seconds=seconds,
        rcodes=_increases(before.rcodes, after.rcodes),
        types=_increases(before.types, after.types),
        latency=latency,
        cache_hits=None
        if after.cache_hits is None
        else _increase(before.cache_hits, after.cache_hits),
        cache_misses=None
        if after.cache_misses is None
        else _increase(before.cache_misses, after.cache_misses),
        walk_wasted=walk_wasted,
        walk_by_namespace=by_namespace,
        top_wasted=tuple((ns, name, int(value)) for (ns, name), value in top),
    )
