"""``health [ADDRESS] { lameduck DURATION }``: liveness on http://ADDRESS/health (default :8080)."""

from __future__ import annotations

import asyncio
from typing import Any

from clusterdns.corefile.model import Directive
from clusterdns.plugins.args import fail, max_args, parse_duration
from clusterdns.plugins.plugin import Plugin, SetupContext


class Health(Plugin):
    name = "health"
    handles_queries = False

    def __init__(self, address: str, lameduck_seconds: float, server: Any) -> None:
        self.address = address
        self.lameduck_seconds = lameduck_seconds
        self.server = server
        self.healthy = True

    async def start(self) -> None:
        endpoint = await self.server.http_endpoint(self.address, 8080)
        endpoint.routes["/health"] = self.health

    async def health(self) -> tuple[int, str, bytes]:
        if self.healthy:
            return 200, "text/plain", b"OK"
        return 503, "text/plain", b"lameduck"

    async def lameduck(self) -> None:
        """On shutdown: report unhealthy and keep serving for the lameduck duration."""
        self.healthy = False
        if self.lameduck_seconds:
            await asyncio.sleep(self.lameduck_seconds)


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    max_args(directive, 1)
    lameduck = 0.0
    for option in directive.block:
        if option.name != "lameduck":
            fail(option, f"unknown property '{option.name}'", "health")
        if len(option.args) != 1:
            fail(option, "lameduck needs one duration", "health")
        lameduck = parse_duration(option.args[0], option, "health")
    address = directive.args[0] if directive.args else ":8080"
    return Health(address, lameduck, ctx.shared["server"])
