"""``prometheus [ADDRESS]``: exports metrics on http://ADDRESS/metrics (default localhost:9153)."""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from clusterdns.corefile.model import Directive
from clusterdns.plugins.args import max_args, no_block
from clusterdns.plugins.plugin import Plugin, SetupContext
from clusterdns.server.stats import Collector

DEFAULT_ADDRESS = "localhost:9153"


class Prometheus(Plugin):
    """Config only: the server counts every query itself; this serves the numbers."""

    name = "prometheus"
    handles_queries = False

    def __init__(self, address: str, server: Any) -> None:
        self.address = address
        self.server = server
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(Collector(server.stats))

    async def start(self) -> None:
        endpoint = await self.server.http_endpoint(self.address, 9153)
        endpoint.routes["/metrics"] = self.metrics

    async def metrics(self) -> tuple[int, str, bytes]:
        body = generate_latest(self.registry) + generate_latest(REGISTRY)
        return 200, CONTENT_TYPE_LATEST, body


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    max_args(directive, 1)
    no_block(directive)
    address = directive.args[0] if directive.args else DEFAULT_ADDRESS
    if address.startswith("localhost"):
        address = "127.0.0.1" + address[len("localhost") :]
    return Prometheus(address, ctx.shared["server"])
