"""``prometheus [ADDRESS]``: exports metrics on http://ADDRESS/metrics (default localhost:9153).

A small plugin: its options and its handler in one module.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from clusterdns.corefile.model import Directive
from clusterdns.plugins.args import listen_address, max_args, no_block
from clusterdns.plugins.plugin import Host, Plugin

DEFAULT_ADDRESS = "localhost:9153"
DEFAULT_PORT = 9153


def parse(directive: Directive) -> str:
    """The address to serve ``/metrics`` on, ``localhost`` as ``127.0.0.1``."""
    max_args(directive, 1)
    no_block(directive)
    address = listen_address(directive) or DEFAULT_ADDRESS
    if address.startswith("localhost"):
        address = "127.0.0.1" + address[len("localhost") :]
    return address


class Prometheus(Plugin):
    """Config only: the server counts every query; this serves the numbers of metered blocks.

    As in CoreDNS, where the metrics handler sits in a block's chain, the
    per-query families (``coredns_dns_requests_total`` ...) count only the
    server blocks that have a ``prometheus`` line; setup marks its block.
    """

    name = "prometheus"
    replies_outlive_reload = True
    handles_queries = False

    def __init__(self, address: str, host: Host) -> None:
        self.address = address
        self.host = host
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(host.metrics_collector())

    async def start(self) -> None:
        await self.host.add_route(self.address, DEFAULT_PORT, "/metrics", self.metrics)

    async def stop(self) -> None:
        self.host.remove_route(self.address, DEFAULT_PORT, "/metrics", self.metrics)

    async def metrics(self) -> tuple[int, str, bytes]:
        body = generate_latest(self.registry) + generate_latest(REGISTRY)
        return 200, CONTENT_TYPE_LATEST, body
