"""``searchwalk [ZONES...]``: count the queries clients send only because of their search list.

A clusterdns extension (CoreDNS has no such plugin).  The server shows every
reply of the block to this plugin (memo hits included); ``dns/walks.py``
recognises each client's search walk (NXDOMAIN for ``X.<ns>.svc.<zone>``,
``X.svc.<zone>``, ``X.<zone>``, then ``X``) and the walks are counted per
namespace.  The zones default to the *kubernetes* plugin's of the block, else
the block's.  With ``kubernetes { pods verified }`` the namespace is the client
pod's; otherwise the ``<ns>`` of the walk's first name, when it is a namespace
the *kubernetes* plugin knows, else ``unknown``.
"""

from __future__ import annotations

from collections.abc import Callable

from clusterdns.corefile.model import Directive
from clusterdns.dns.names import normalize_zone
from clusterdns.dns.wire import WireError, parse_query
from clusterdns.plugins.args import no_block
from clusterdns.plugins.kubernetes.handler import Kubernetes
from clusterdns.plugins.kubernetes.options import PODS_VERIFIED
from clusterdns.plugins.plugin import Hit, Plugin, Seen
from clusterdns.plugins.searchwalk.metrics import QUERIES, TOP_COLLECTOR, WASTED, TopNames
from clusterdns.resolver.walks import NXDOMAIN, WalkTracker

UNKNOWN = "unknown"
MAX_NAMESPACES = 1000  # distinct namespace label values; beyond, "unknown"

NamespaceOf = Callable[[str], str]


def parse(directive: Directive, block_zones: tuple[str, ...]) -> tuple[str, ...]:
    """The zones whose walks count, without the final dot: ZONES, else the block's but the root.

    Empty: the *kubernetes* plugin's zones, looked up at start.
    """
    no_block(directive)
    zones = tuple(normalize_zone(z).rstrip(".") for z in directive.args)
    return zones or tuple(z.rstrip(".") for z in block_zones if z != ".")


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
        TOP_COLLECTOR.tables.append(self.top)

    async def stop(self) -> None:
        if self.top in TOP_COLLECTOR.tables:
            TOP_COLLECTOR.tables.remove(self.top)

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
