"""Per-query counting that costs one dict lookup, exported at scrape time.

prometheus_client's labelled metrics cost microseconds per call, more than a
memoized answer costs to send.  So the server keeps one small mutable cell
``[count, seconds]`` per distinct combination of everything CoreDNS's metrics
label (server, zone, proto, family, type, DO, rcode, plugin, request size,
response size, duration bucket) and a memoized answer keeps a reference to its
cell.  ``Collector`` folds the cells into CoreDNS's families when Prometheus
scrapes.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from typing import NamedTuple

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from clusterdns import __version__
from clusterdns.plugins.metrics import SIZE_BUCKETS, TIME_BUCKETS

DURATION_BUCKETS = TIME_BUCKETS
FAST = DURATION_BUCKETS[0]

# CoreDNS labels a query type by name only for these (plugin/metrics/vars/monitor.go
# monitorType); everything else is "other".
KNOWN_TYPES = {
    1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA",
    33: "SRV", 43: "DS", 46: "RRSIG", 47: "NSEC", 48: "DNSKEY", 50: "NSEC3", 64: "SVCB",
    65: "HTTPS", 251: "IXFR", 252: "AXFR", 255: "ANY",
}  # fmt: skip


class CellKey(NamedTuple):
    server: str
    zone: str
    proto: str
    family: str
    qtype: str
    do: bool
    rcode: str
    plugin: str
    request_size: int
    response_size: int
    bucket: int  # index into DURATION_BUCKETS, len() for +Inf


def type_label(qtype: int) -> str:
    return KNOWN_TYPES.get(qtype, "other")


def duration_bucket(seconds: float) -> int:
    return bisect.bisect_left(DURATION_BUCKETS, seconds)


class Stats:
    """All counts of one server process."""

    def __init__(self) -> None:
        self.cells: dict[CellKey, list[float]] = {}
        self.dropped: dict[tuple[str, str], int] = {}
        self.panics = 0
        self.plugins_enabled: set[tuple[str, str, str]] = set()

    def cell(self, key: CellKey) -> list[float]:
        cell = self.cells.get(key)
        if cell is None:
            cell = self.cells[key] = [0, 0.0]
        return cell

    def observe(self, key: CellKey, seconds: float) -> None:
        """Count one query whose labels are ``key`` (bucket taken from ``seconds``)."""
        cell = self.cell(key._replace(bucket=duration_bucket(seconds)))
        cell[0] += 1
        cell[1] += seconds

    def replies(self, plugin: str, server: str, zones: frozenset[str]) -> tuple[float, float]:
        """(NOERROR, other rcodes) replies written by ``plugin`` on ``server`` in ``zones``."""
        noerror = other = 0.0
        for key, cell in list(self.cells.items()):
            if key.plugin == plugin and key.server == server and key.zone in zones:
                if key.rcode == "NOERROR":
                    noerror += cell[0]
                else:
                    other += cell[0]
        return noerror, other

    def drop(self, server: str, reason: str) -> None:
        """A packet we did not answer: malformed header, queue full, too many connections."""
        key = (server, reason)
        self.dropped[key] = self.dropped.get(key, 0) + 1


def _everything(server: str, zone: str) -> bool:
    return True


class Collector:
    """Exports ``Stats`` in CoreDNS's metric names, labels and buckets.

    ``metered(server, zone)`` says which queries are exported: CoreDNS counts a
    query only in a server block that has the ``prometheus`` plugin (its
    metrics handler sits in that block's chain), so the server passes the
    blocks whose ``prometheus`` asked for it.
    """

    def __init__(self, stats: Stats, metered: Callable[[str, str], bool] = _everything) -> None:
        self.stats = stats
        self.metered = metered

    def collect(self) -> Iterator[Metric]:
        metered = self.metered
        cells = [(k, c) for k, c in list(self.stats.cells.items()) if metered(k.server, k.zone)]
        yield from self._requests(cells)
        yield from self._responses(cells)
        yield from self._durations(cells)
        yield from self._sizes(cells, "request")
        yield from self._sizes(cells, "response")
        yield from self._others()

    def _requests(self, cells: list[tuple[CellKey, list[float]]]) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "coredns_dns_requests",
            "Counter of DNS requests made per zone, protocol and family.",
            labels=["server", "zone", "view", "proto", "family", "type"],
        )
        do = CounterMetricFamily(
            "coredns_dns_do_requests",
            "Counter of DNS requests with DO bit set per zone.",
            labels=["server", "zone", "view"],
        )
        by_request: dict[tuple[str, ...], float] = {}
        by_do: dict[tuple[str, ...], float] = {}
        for k, (count, _) in cells:
            label = (k.server, k.zone, "", k.proto, k.family, k.qtype)
            by_request[label] = by_request.get(label, 0) + count
            if k.do:
                do_label = (k.server, k.zone, "")
                by_do[do_label] = by_do.get(do_label, 0) + count
        for labels, value in by_request.items():
            requests.add_metric(list(labels), value)
        for labels, value in by_do.items():
            do.add_metric(list(labels), value)
        yield requests
        yield do

    def _responses(self, cells: list[tuple[CellKey, list[float]]]) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "coredns_dns_responses",
            "Counter of response status codes.",
            labels=["server", "zone", "view", "rcode", "plugin"],
        )
        totals: dict[tuple[str, ...], float] = {}
        for k, (count, _) in cells:
            label = (k.server, k.zone, "", k.rcode, k.plugin)
            totals[label] = totals.get(label, 0) + count
        for labels, value in totals.items():
            family.add_metric(list(labels), value)
        yield family

    def _durations(self, cells: list[tuple[CellKey, list[float]]]) -> Iterator[Metric]:
        family = HistogramMetricFamily(
            "coredns_dns_request_duration_seconds",
            "Histogram of the time (in seconds) each request took per zone.",
            labels=["server", "zone", "view"],
        )
        groups: dict[tuple[str, ...], list[float]] = {}
        for k, (count, seconds) in cells:
            label = (k.server, k.zone, "")
            row = groups.setdefault(label, [0.0] * (len(DURATION_BUCKETS) + 2))
            row[k.bucket] += count
            row[-1] += seconds
        for labels, row in groups.items():
            family.add_metric(list(labels), _cumulative(DURATION_BUCKETS, row[:-1]), row[-1])
        yield family

    def _sizes(self, cells: list[tuple[CellKey, list[float]]], which: str) -> Iterator[Metric]:
        family = HistogramMetricFamily(
            f"coredns_dns_{which}_size_bytes",
            f"Size of the {'EDNS0 UDP buffer in bytes (64K for TCP) per zone and protocol' if which == 'request' else 'returned response in bytes'}.",
            labels=["server", "zone", "view", "proto"],
        )
        groups: dict[tuple[str, ...], list[float]] = {}
        for k, (count, _) in cells:
            size = k.request_size if which == "request" else k.response_size
            label = (k.server, k.zone, "", k.proto)
            row = groups.setdefault(label, [0.0] * (len(SIZE_BUCKETS) + 2))
            row[bisect.bisect_left(SIZE_BUCKETS, size)] += count
            row[-1] += size * count
        for labels, row in groups.items():
            family.add_metric(list(labels), _cumulative(SIZE_BUCKETS, row[:-1]), row[-1])
        yield family

    def _others(self) -> Iterator[Metric]:
        panics = CounterMetricFamily(
            "coredns_panics", "A metrics that counts the number of panics."
        )
        panics.add_metric([], self.stats.panics)
        yield panics
        build = GaugeMetricFamily(
            "coredns_build_info",
            "A metric with a constant '1' value labeled by version, revision, and goversion from which CoreDNS was built.",
            labels=["version", "revision", "goversion"],
        )
        build.add_metric([__version__, "clusterdns", "python"], 1)
        yield build
        enabled = GaugeMetricFamily(
            "coredns_plugin_enabled",
            "A metric that indicates whether a plugin is enabled on per server and zone basis.",
            labels=["server", "zone", "view", "name"],
        )
        for server, zone, name in sorted(self.stats.plugins_enabled):
            enabled.add_metric([server, zone, "", name], 1)
        yield enabled
        dropped = CounterMetricFamily(
            "clusterdns_dns_dropped",
            "Queries dropped without an answer, by reason (clusterdns's own metric).",
            labels=["server", "reason"],
        )
        for (server, reason), value in self.stats.dropped.items():
            dropped.add_metric([server, reason], value)
        yield dropped


def _cumulative(bounds: tuple[float, ...], counts: list[float]) -> list[tuple[str, float]]:
    out = []
    running = 0.0
    for bound, count in zip(bounds, counts, strict=False):
        running += count
        out.append((_bound_text(bound), running))
    running += counts[len(bounds)]
    out.append(("+Inf", running))
    return out


def _bound_text(bound: float) -> str:
    return repr(float(bound)) if bound != int(bound) else f"{bound:.1f}"
