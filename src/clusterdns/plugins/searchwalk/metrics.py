"""searchwalk's metrics (ours; CoreDNS has no such plugin): walks per namespace and the top names.

``clusterdns_search_expansion_top_wasted`` is built at scrape time from the
``TopNames`` table of every serving searchwalk, in bounded memory.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY

QUERIES = Counter(
    "clusterdns_search_expansion_queries_total",
    "Queries of recognised search-list walks (the wasted ones and the one that answered).",
    ["namespace"],
)
WASTED = Counter(
    "clusterdns_search_expansion_wasted_total",
    "Queries that only existed because of the search list (NXDOMAIN steps of a walk).",
    ["namespace"],
)
MAX_NAMES = 1000  # (namespace, name) pairs remembered for the top list
TOP = 10


class TopNames:
    """The names that waste most, in bounded memory (the smallest half goes when full)."""

    def __init__(self, capacity: int = MAX_NAMES) -> None:
        self.capacity = capacity
        self.counts: dict[tuple[str, str], int] = {}

    def add(self, namespace: str, name: str, wasted: int) -> None:
        key = (namespace, name)
        self.counts[key] = self.counts.get(key, 0) + wasted
        if len(self.counts) > self.capacity:
            keep = heapq.nlargest(self.capacity // 2, self.counts.items(), key=lambda kv: kv[1])
            self.counts = dict(keep)

    def top(self, count: int = TOP) -> list[tuple[tuple[str, str], int]]:
        return heapq.nlargest(count, self.counts.items(), key=lambda kv: kv[1])


class _TopCollector:
    """``clusterdns_search_expansion_top_wasted{namespace,name}`` of every serving searchwalk."""

    def __init__(self) -> None:
        self.tables: list[TopNames] = []

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "clusterdns_search_expansion_top_wasted",
            "Wasted search-walk queries of the names that waste most (top 10 per server).",
            labels=["namespace", "name"],
        )
        merged: dict[tuple[str, str], int] = {}
        for table in self.tables:
            for key, value in table.top():
                merged[key] = merged.get(key, 0) + value
        for (namespace, name), value in heapq.nlargest(TOP, merged.items(), key=lambda kv: kv[1]):
            family.add_metric([namespace, name], value)
        yield family


TOP_COLLECTOR = _TopCollector()
REGISTRY.register(TOP_COLLECTOR)
