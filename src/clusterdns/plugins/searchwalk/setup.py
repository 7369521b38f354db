"""``searchwalk [ZONES...]``: count the queries clients send only because of their search list.

A clusterdns extension (CoreDNS has no such plugin).  The server shows every
reply of the block to this plugin (memo hits included); ``resolver/walks.py``
recognises each client's search walk (NXDOMAIN for ``X.<ns>.svc.<zone>``,
``X.svc.<zone>``, ``X.<zone>``, then ``X``) and the walks are counted per
namespace.  The zones default to the *kubernetes* plugin's of the block, else
the block's.  With ``kubernetes { pods verified }`` the namespace is the client
pod's; otherwise the ``<ns>`` of the walk's first name, when it is a namespace
the *kubernetes* plugin knows, else ``unknown``.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY

from clusterdns.corefile.model import Directive
from clusterdns.dns.names import normalize_zone
from clusterdns.dns.wire import WireError, parse_query
from clusterdns.plugins.args import no_block
from clusterdns.plugins.plugin import Hit, Plugin, Seen, SetupContext
from clusterdns.resolver.walks import NXDOMAIN, WalkTracker

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
UNKNOWN = "unknown"
MAX_NAMESPACES = 1000  # distinct namespace label values; beyond, "unknown"
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
        self.plugins: list[SearchWalk] = []

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "clusterdns_search_expansion_top_wasted",
            "Wasted search-walk queries of the names that waste most (top 10 per server).",
            labels=["namespace", "name"],
        )
        merged: dict[tuple[str, str], int] = {}
        for plugin in self.plugins:
            for key, value in plugin.top.top():
                merged[key] = merged.get(key, 0) + value
        for (namespace, name), value in heapq.nlargest(TOP, merged.items(), key=lambda kv: kv[1]):
            family.add_metric([namespace, name], value)
        yield family


TOP_COLLECTOR = _TopCollector()
REGISTRY.register(TOP_COLLECTOR)

NamespaceOf = Callable[[str], str]


class SearchWalk(Plugin):
    name = "searchwalk"
    handles_queries = False
    taps_queries = True

    def __init__(
        self, zones: tuple[str, ...], block_plugins: Callable[[], tuple[Plugin, ...]]
    ) -> None:
        self.zones = zones
        self.block_plugins = block_plugins
        self.tracker = WalkTracker(zones or ("cluster.local",))
        self.top = TopNames()
        self.namespaces: set[str] = set()
        self.pod_namespace: NamespaceOf = lambda _ip: ""
        self.known_namespace: Callable[[str], bool] = lambda _ns: True

    async def start(self) -> None:
        from clusterdns.plugins.kubernetes.handler import Kubernetes
        from clusterdns.plugins.kubernetes.options import PODS_VERIFIED

        found = [p for p in self.block_plugins() if isinstance(p, Kubernetes)]
        if found:
            kubernetes = found[0]
            if not self.zones:
                zones = tuple(z.rstrip(".") for z in kubernetes.opts.forward_zones)
                self.tracker = WalkTracker(zones)
            if kubernetes.opts.pods == PODS_VERIFIED:

                def pod_namespace(ip: str) -> str:
                    pods = kubernetes.store.pods_at(ip)
                    return pods[0].namespace if pods and not pods[0].host_network else ""

                self.pod_namespace = pod_namespace
            self.known_namespace = lambda ns: (
                bool(ns) and any(True for _ in kubernetes.store.services_in(ns))
            )
        TOP_COLLECTOR.plugins.append(self)

    async def stop(self) -> None:
        if self in TOP_COLLECTOR.plugins:
            TOP_COLLECTOR.plugins.remove(self)

    def tap_reply(self, seen: Seen, wire: bytes, rcode: int) -> None:
        self._observe(seen.data, seen.client[0], rcode, seen.received)

    def tap_hit(self, hit: Hit, server: str, zone: str) -> None:
        data, wire, client, _transport, _local, received, _sent = hit
        self._observe(data, client[0], wire[3] & 0xF, received)

    def _observe(self, data: bytes, client: str, rcode: int, received: float) -> None:
        if rcode != NXDOMAIN and client not in self.tracker.clients:
            return  # the common case: an answer for a client with no walk under way
        try:
            name = parse_query(data).name
        except WireError:
            return
        namespace = self.pod_namespace(client)
        for walk in self.tracker.observe(client, name, rcode, received, namespace):
            label = self._label(walk.namespace, bool(namespace))
            QUERIES.labels(label).inc(walk.queries)
            if walk.wasted:
                WASTED.labels(label).inc(walk.wasted)
                self.top.add(label, walk.name, walk.wasted)

    def _label(self, namespace: str, from_pod: bool) -> str:
        """A bounded label: the pod's namespace, or one the cluster has, else ``unknown``."""
        if not namespace:
            return UNKNOWN
        if namespace in self.namespaces:
            return namespace
        if len(self.namespaces) >= MAX_NAMESPACES:
            return UNKNOWN
        if not from_pod and not self.known_namespace(namespace):
            return UNKNOWN
        self.namespaces.add(namespace)
        return namespace


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    no_block(directive)
    zones = tuple(normalize_zone(z).rstrip(".") for z in directive.args)
    if not zones:
        zones = tuple(z.rstrip(".") for z in ctx.zones if z != ".")
    return SearchWalk(zones, ctx.block_plugins)
