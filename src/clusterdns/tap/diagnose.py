"""Seed 002's dnstap diagnosis over a window of messages: pure, bounded, no I/O.

* rcodes by name and by client (needs ``full``: the rcode is in the DNS message);
* a FORWARDER_QUERY with no FORWARDER_RESPONSE: the upstream was silent;
* a CLIENT_QUERY with no CLIENT_RESPONSE: the client got no answer from us;
* the slowest names by latency percentile (client query -> client response);
* the clients that ask most;
* the search-walk waste (``resolver/walks.py``): queries that exist only because of
  the search list, per namespace and name.

Pairs are found without the DNS message, as CoreDNS writes them: a client's
query and response carry the same client address, port, protocol and query
time; a forwarder's query and response the same upstream, protocol and query
time.  With ``full`` the DNS ID is part of the key too.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Any

from clusterdns.dnstap.message import Record
from clusterdns.resolver.walks import WalkTracker

MAX_PENDING = 100_000  # open queries remembered; beyond, the oldest is forgotten (counted)
MAX_NAMES = 10_000  # names with latency samples; beyond, new names are not sampled
MAX_SAMPLES = 512  # latency samples kept per name (the most recent)
MAX_KEYS = 50_000  # distinct (rcode, name) and (rcode, client) keys counted
TOP = 10
SILENT_AFTER = 2.0  # seconds without an answer before a query counts as unanswered

Key = tuple[Any, ...]


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class Diagnosis:
    zones: tuple[str, ...] = ("cluster.local",)
    messages: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    rcode_name: Counter[tuple[str, str]] = field(default_factory=Counter)
    rcode_client: Counter[tuple[str, str]] = field(default_factory=Counter)
    clients: Counter[str] = field(default_factory=Counter)
    client_pending: OrderedDict[Key, Record] = field(default_factory=OrderedDict)
    forward_pending: OrderedDict[Key, Record] = field(default_factory=OrderedDict)
    forgotten: int = 0
    latency: dict[str, list[float]] = field(default_factory=dict)
    walk_queries: Counter[str] = field(default_factory=Counter)
    walk_wasted: Counter[str] = field(default_factory=Counter)
    wasted_names: Counter[tuple[str, str]] = field(default_factory=Counter)
    without_message: int = 0
    last_ns: int = 0
    walks: WalkTracker = field(init=False)

    def __post_init__(self) -> None:
        self.walks = WalkTracker(self.zones)

    # -- feeding ----------------------------------------------------------------

    def add(self, record: Record) -> None:
        self.messages += 1
        self.by_type[record.type] += 1
        self.last_ns = max(self.last_ns, record.time_ns)
        if not record.message:
            self.without_message += 1
        kind = record.type
        if kind == "CLIENT_QUERY":
            self.clients[record.query_address] += 1
            self._open(self.client_pending, self._client_key(record), record)
        elif kind == "CLIENT_RESPONSE":
            query = self.client_pending.pop(self._client_key(record), None)
            self._client_response(record, query)
        elif kind == "FORWARDER_QUERY":
            self._open(self.forward_pending, self._forward_key(record), record)
        elif kind == "FORWARDER_RESPONSE":
            self.forward_pending.pop(self._forward_key(record), None)

    @staticmethod
    def _client_key(record: Record) -> Key:
        return (
            record.query_address,
            record.query_port,
            record.protocol,
            record.query_ns,
            record.id,
        )

    @staticmethod
    def _forward_key(record: Record) -> Key:
        return (
            record.response_address,
            record.response_port,
            record.protocol,
            record.query_ns,
            record.id,
        )

    def _open(self, pending: OrderedDict[Key, Record], key: Key, record: Record) -> None:
        pending[key] = record
        if len(pending) > MAX_PENDING:
            pending.popitem(last=False)
            self.forgotten += 1

    def _count(self, counter: Counter[tuple[str, str]], key: tuple[str, str]) -> None:
        if key in counter or len(counter) < MAX_KEYS:
            counter[key] += 1

    def _client_response(self, record: Record, query: Record | None) -> None:
        name = record.name or (query.name if query is not None else None)
        if record.rcode is not None:
            rcode = record.rcode_text
            self._count(self.rcode_name, (rcode, name or "?"))
            self._count(self.rcode_client, (rcode, record.query_address))
        if query is not None and record.response_ns is not None and record.query_ns is not None:
            seconds = (record.response_ns - record.query_ns) / 1e9
            label = name or "?"
            samples = self.latency.get(label)
            if samples is None and len(self.latency) < MAX_NAMES:
                samples = self.latency[label] = []
            if samples is not None:
                samples.append(seconds)
                if len(samples) > MAX_SAMPLES:
                    del samples[0]
        if name is not None and record.rcode is not None:
            for walk in self.walks.observe(
                record.query_address, name, record.rcode, record.time_ns / 1e9
            ):
                ns = walk.namespace or "?"
                self.walk_queries[ns] += walk.queries
                self.walk_wasted[ns] += walk.wasted
                if walk.wasted:
                    self._count(self.wasted_names, (ns, walk.name))

    # -- the report -----------------------------------------------------------

    def unanswered(
        self, pending: OrderedDict[Key, Record], now_ns: int | None = None
    ) -> list[Record]:
        """Queries still open ``SILENT_AFTER`` seconds before the last message (or ``now_ns``)."""
        limit = (now_ns if now_ns is not None else self.last_ns) - int(SILENT_AFTER * 1e9)
        return [r for r in pending.values() if r.time_ns <= limit]

    def report(self, now_ns: int | None = None) -> dict[str, Any]:
        silent = self.unanswered(self.forward_pending, now_ns)
        lost = self.unanswered(self.client_pending, now_ns)
        upstreams = Counter(f"{r.response_address}:{r.response_port}" for r in silent)
        ranked = sorted(
            (
                (round(_percentile(samples, 0.99) * 1000, 3), name, samples)
                for name, samples in self.latency.items()
                if samples
            ),
            key=lambda row: (-row[0], row[1]),
        )[:TOP]
        slowest = [
            {
                "name": name,
                "count": len(samples),
                "p50_ms": round(_percentile(samples, 0.5) * 1000, 3),
                "p99_ms": p99,
                "max_ms": round(max(samples) * 1000, 3),
            }
            for p99, name, samples in ranked
        ]
        return {
            "messages": self.messages,
            "by_type": dict(self.by_type),
            "without_dns_message": self.without_message,
            "rcodes_by_name": [
                {"rcode": rc, "name": n, "count": c}
                for (rc, n), c in self.rcode_name.most_common(TOP)
            ],
            "rcodes_by_client": [
                {"rcode": rc, "client": cl, "count": c}
                for (rc, cl), c in self.rcode_client.most_common(TOP)
            ],
            "upstream_silent": {
                "count": len(silent),
                "by_upstream": dict(upstreams.most_common(TOP)),
                "names": sorted({r.name for r in silent if r.name})[:TOP],
            },
            "client_unanswered": {
                "count": len(lost),
                "clients": dict(Counter(r.query_address for r in lost).most_common(TOP)),
                "names": sorted({r.name for r in lost if r.name})[:TOP],
            },
            "slowest_names": slowest,
            "top_clients": [{"client": c, "queries": n} for c, n in self.clients.most_common(TOP)],
            "search_walks": {
                "queries": dict(self.walk_queries),
                "wasted": dict(self.walk_wasted),
                "top_wasted": [
                    {"namespace": ns, "name": n, "walks": c}
                    for (ns, n), c in self.wasted_names.most_common(TOP)
                ],
            },
            "forgotten_open_queries": self.forgotten,
        }


def render_text(report: dict[str, Any]) -> str:
    """The report for a terminal: one section per finding, plain lines."""
    lines = [f"messages: {report['messages']}  " + ", ".join(
        f"{k}={v}" for k, v in sorted(report["by_type"].items())
    )]  # fmt: skip
    if report["without_dns_message"]:
        lines.append(
            f"  {report['without_dns_message']} messages carry no DNS message: names and rcodes "
            "need 'dnstap SOCKET full'"
        )
    silent = report["upstream_silent"]
    lines.append(f"upstream silent (forwarder query, no response): {silent['count']}")
    for upstream, count in silent["by_upstream"].items():
        lines.append(f"  {upstream}: {count}")
    for name in silent["names"]:
        lines.append(f"  name {name}")
    lost = report["client_unanswered"]
    lines.append(f"client queries with no response: {lost['count']}")
    for client, count in lost["clients"].items():
        lines.append(f"  {client}: {count}")
    lines.append("rcodes by name:")
    for row in report["rcodes_by_name"]:
        lines.append(f"  {row['rcode']:<9} {row['name']}  {row['count']}")
    lines.append("rcodes by client:")
    for row in report["rcodes_by_client"]:
        lines.append(f"  {row['rcode']:<9} {row['client']}  {row['count']}")
    lines.append("slowest names (p50 / p99 / max ms):")
    for row in report["slowest_names"]:
        lines.append(
            f"  {row['name']}  {row['p50_ms']} / {row['p99_ms']} / {row['max_ms']}  "
            f"({row['count']} answers)"
        )
    lines.append("top clients:")
    for row in report["top_clients"]:
        lines.append(f"  {row['client']}  {row['queries']}")
    walks = report["search_walks"]
    lines.append("search-walk waste (queries that exist only because of the search list):")
    for ns, wasted in sorted(walks["wasted"].items(), key=lambda kv: -kv[1]):
        lines.append(f"  namespace {ns}: {wasted} wasted of {walks['queries'].get(ns, 0)}")
    for row in walks["top_wasted"]:
        lines.append(f"  {row['namespace']}/{row['name']}: {row['walks']} walks")
    return "\n".join(lines)
