"""dnstap records of one window as a ``Report``: what /metrics has, plus the top names,
clients and NXDOMAIN names, and search-list walks recognised from the replies themselves.

Fed ``Record``s (``clusterdns.dnstap.message.parse``); no I/O, no clock: the times are the
records' own.
"""

from __future__ import annotations

from collections import Counter

from clusterdns.dnstap.message import Record
from clusterdns.resolver.walks import WalkTracker
from clusterdns.top.report import QUANTILES, Ranked, Report

TOP = 10
NXDOMAIN = 3


def _percentile(ordered: list[float], q: float) -> float:
    """Nearest rank on sorted values."""
    index = min(len(ordered) - 1, max(0, int(round(q * len(ordered) + 0.5)) - 1))
    return ordered[index]


class TapWindow:
    """Counts of the CLIENT_RESPONSE messages of one window (the replies clients got)."""

    def __init__(
        self, zones: tuple[str, ...] = ("cluster.local",), walks: WalkTracker | None = None
    ) -> None:
        # the tracker outlives a window: a walk may start in one and end in the next
        self.walks = walks if walks is not None else WalkTracker(zones)
        self.rcodes: Counter[str] = Counter()
        self.types: Counter[str] = Counter()
        self.names: Counter[str] = Counter()
        self.clients: Counter[str] = Counter()
        self.nxdomain: Counter[str] = Counter()
        self.wasted: Counter[str] = Counter()
        self.wasted_names: Counter[tuple[str, str]] = Counter()
        self.latencies: list[float] = []

    def next(self) -> TapWindow:
        """An empty window that goes on tracking the walks under way."""
        return TapWindow(walks=self.walks)

    def add(self, record: Record) -> None:
        if record.type != "CLIENT_RESPONSE" or record.rcode is None:
            return
        name = (record.name or "?").lower()
        self.rcodes[record.rcode_text] += 1
        self.types[record.type_text] += 1
        self.names[name] += 1
        self.clients[record.query_address] += 1
        if record.rcode == NXDOMAIN:
            self.nxdomain[name] += 1
        if record.query_ns is not None and record.response_ns is not None:
            self.latencies.append(max(0, record.response_ns - record.query_ns) / 1e9)
        now = record.time_ns / 1e9
        for walk in self.walks.observe(record.query_address, name, record.rcode, now):
            if walk.wasted:
                self.wasted[walk.namespace] += walk.wasted
                self.wasted_names[(walk.namespace, walk.name)] += walk.wasted

    def report(self, seconds: float, target: str) -> Report:
        ordered = sorted(self.latencies)
        latency = {q: _percentile(ordered, q) for q in QUANTILES} if ordered else {}

        def top(counter: Counter[str]) -> tuple[Ranked, ...]:
            return tuple(Ranked(key, count) for key, count in counter.most_common(TOP))

        return Report(
            source="dnstap",
            target=target,
            seconds=seconds,
            rcodes=dict(self.rcodes),
            types=dict(self.types),
            latency=latency,
            walk_wasted=sum(self.wasted.values()),
            walk_by_namespace=dict(self.wasted),
            top_wasted=tuple(
                (ns, name, count) for (ns, name), count in self.wasted_names.most_common(TOP)
            ),
            top_names=top(self.names),
            top_clients=top(self.clients),
            top_nxdomain=top(self.nxdomain),
        )
