"""cache's metrics in CoreDNS's names (plugin/cache/metrics.go), folded at scrape time.

Why hits are not counted in the handler: a cache hit may be memoized by the
server (answered by a dict lookup without running the chain) until its TTL
would next change, so the handler sees only the first hit of each second.
The server counts every reply it sends (read through ``Host.replies``), labelled with
the plugin that wrote it, memoized or not; every reply labelled ``cache`` is
a hit (CoreDNS counts stale serves as hits too).  So hits are the sum of
those cells for this cache's server and zones, split by type: NXDOMAIN and
SERVFAIL are denial, NOERROR is success except NODATA hits, which the
handler counts itself (they are never memoized, so it sees them all).
Requests are hits plus misses; misses, prefetches, drops, stale serves and
evictions only happen in the chain and are counted there.

Counts are kept per label set for the life of the process, as CoreDNS's
counters are, so a reload (a new Cache instance) continues them.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Sized
from typing import Protocol

from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from clusterdns.plugins.cache.options import CacheConfig
from clusterdns.plugins.plugin import Host


class Cache(Protocol):
    """What the metrics read of a cache (``handler.Cache``): its labels and its sizes."""

    @property
    def config(self) -> CacheConfig: ...
    @property
    def host(self) -> Host: ...
    @property
    def block_zones(self) -> tuple[str, ...]: ...
    @property
    def servers(self) -> set[str]: ...
    @property
    def success(self) -> Sized: ...
    @property
    def denial(self) -> Sized: ...


COUNTS: dict[tuple[str, str, str], float] = {}  # (what, server, zones) -> count
LIVE: weakref.WeakSet[Cache] = weakref.WeakSet()


def count(what: str, server: str, cache: Cache) -> None:
    key = (what, server, cache.config.zones_label)
    COUNTS[key] = COUNTS.get(key, 0) + 1


def register(cache: Cache) -> None:
    LIVE.add(cache)


def unregister(cache: Cache) -> None:
    LIVE.discard(cache)


def served_by_cache(cache: Cache, server: str) -> tuple[float, float]:
    """(NOERROR, other rcodes) replies the server sent with plugin="cache" for this cache."""
    return cache.host.replies("cache", server, frozenset(cache.block_zones))


class Collector:
    def collect(self) -> Iterator[Metric]:
        labels4 = ["server", "type", "zones", "view"]
        labels3 = ["server", "zones", "view"]
        entries = GaugeMetricFamily(
            "coredns_cache_entries", "The number of elements in the cache.", labels=labels4
        )
        requests = CounterMetricFamily(
            "coredns_cache_requests", "The count of cache requests.", labels=labels3
        )
        hits = CounterMetricFamily("coredns_cache_hits", "The count of cache hits.", labels=labels4)
        misses = CounterMetricFamily(
            "coredns_cache_misses",
            "The count of cache misses. Deprecated, derive misses from cache hits/requests counters.",
            labels=labels3,
        )
        simple = {
            "prefetch": CounterMetricFamily(
                "coredns_cache_prefetch",
                "The number of times the cache has prefetched a cached item.",
                labels=labels3,
            ),
            "drops": CounterMetricFamily(
                "coredns_cache_drops",
                "The number responses that are not cached, because the reply is malformed.",
                labels=labels3,
            ),
            "served_stale": CounterMetricFamily(
                "coredns_cache_served_stale",
                "The number of requests served from stale cache entries.",
                labels=labels3,
            ),
        }
        evictions = CounterMetricFamily(
            "coredns_cache_evictions", "The count of cache evictions.", labels=labels4
        )
        done: set[tuple[str, str]] = set()
        for cache in list(LIVE):
            zones = cache.config.zones_label
            for server in sorted(cache.servers):
                if (server, zones) in done:
                    continue  # during a reload the old and the new instance share labels
                done.add((server, zones))
                entries.add_metric([server, "success", zones, ""], len(cache.success))
                entries.add_metric([server, "denial", zones, ""], len(cache.denial))
                noerror, other = served_by_cache(cache, server)
                nodata = COUNTS.get(("nodata_hits", server, zones), 0)
                missed = COUNTS.get(("misses", server, zones), 0)
                hits.add_metric([server, "success", zones, ""], max(noerror - nodata, 0))
                hits.add_metric([server, "denial", zones, ""], other + nodata)
                misses.add_metric([server, zones, ""], missed)
                requests.add_metric([server, zones, ""], noerror + other + missed)
                for what, family in simple.items():
                    family.add_metric([server, zones, ""], COUNTS.get((what, server, zones), 0))
                for kind in ("success", "denial"):
                    evictions.add_metric(
                        [server, kind, zones, ""],
                        COUNTS.get((f"evictions_{kind}", server, zones), 0),
                    )
        yield entries
        yield requests
        yield hits
        yield misses
        yield from simple.values()
        yield evictions


_COLLECTOR = Collector()
REGISTRY.register(_COLLECTOR)
