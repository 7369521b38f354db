"""``ready [ADDRESS]``: readiness on http://ADDRESS/ready (default :8181)."""

from __future__ import annotations

from typing import Any

from clusterdns.corefile.model import Directive
from clusterdns.plugins.args import max_args, no_block
from clusterdns.plugins.plugin import Plugin, SetupContext


class Ready(Plugin):
    """200 once every plugin that reports readiness is ready; 503 naming those that are not."""

    name = "ready"
    handles_queries = False

    def __init__(self, address: str, server: Any) -> None:
        self.address = address
        self.server = server

    async def start(self) -> None:
        endpoint = await self.server.http_endpoint(self.address, 8181)
        endpoint.routes["/ready"] = self.readiness

    async def readiness(self) -> tuple[int, str, bytes]:
        waiting = self.server.ready()
        if not waiting:
            return 200, "text/plain", b"OK"
        return 503, "text/plain", ", ".join(waiting).encode()


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    max_args(directive, 1)
    no_block(directive)
    return Ready(directive.args[0] if directive.args else ":8181", ctx.shared["server"])
