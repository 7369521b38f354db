"""``health [ADDRESS] { lameduck DURATION }``: liveness on http://ADDRESS/health (default :8080).

A small plugin: its options and its handler in one module.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from clusterdns.corefile.model import Directive
from clusterdns.plugins.args import fail, listen_address, max_args, parse_duration
from clusterdns.plugins.plugin import Host, Plugin

DEFAULT_ADDRESS = ":8080"
DEFAULT_PORT = 8080


@dataclass(frozen=True, slots=True)
class HealthOptions:
    address: str = DEFAULT_ADDRESS
    #: seconds ``/health`` keeps answering after shutdown starts
    lameduck: float = 0.0


def parse(directive: Directive) -> HealthOptions:
    max_args(directive, 1)
    lameduck = 0.0
    for option in directive.block:
        if option.name != "lameduck":
            fail(option, f"unknown property '{option.name}'", "health")
        if len(option.args) != 1:
            fail(option, "lameduck needs one duration", "health")
        lameduck = parse_duration(option.args[0], option, "health")
    return HealthOptions(listen_address(directive) or DEFAULT_ADDRESS, lameduck)


class Health(Plugin):
    """``/health`` answers 200 ``OK`` while the process runs, lame duck included.

    CoreDNS plugin/health/README.md: "lameduck will delay shutdown for
    DURATION. /health will still answer 200 OK."  It is the *ready* plugin that
    stops answering OK once shutdown starts.
    """

    name = "health"
    replies_outlive_reload = True
    handles_queries = False

    def __init__(self, opts: HealthOptions, host: Host) -> None:
        self.address = opts.address
        self.lameduck_seconds = opts.lameduck
        self.host = host

    async def start(self) -> None:
        await self.host.add_route(self.address, DEFAULT_PORT, "/health", self.health)

    async def health(self) -> tuple[int, str, bytes]:
        return 200, "text/plain", b"OK"

    async def lameduck(self) -> None:
        """On shutdown: keep the listeners answering for the lameduck duration."""
        if self.lameduck_seconds:
            await asyncio.sleep(self.lameduck_seconds)

    async def stop(self) -> None:
        self.host.remove_route(self.address, DEFAULT_PORT, "/health", self.health)
