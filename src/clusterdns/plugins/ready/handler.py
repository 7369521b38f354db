"""``ready [ADDRESS] { monitor until-ready|continuously }``: readiness on http://ADDRESS/ready.

A small plugin: its options and its handler in one module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from clusterdns.corefile.model import Directive
from clusterdns.plugins.args import fail, listen_address, max_args
from clusterdns.plugins.plugin import Host, Plugin

DEFAULT_ADDRESS = ":8181"
DEFAULT_PORT = 8181
UNTIL_READY, CONTINUOUSLY = "until-ready", "continuously"


@dataclass(frozen=True, slots=True)
class ReadyOptions:
    address: str = DEFAULT_ADDRESS
    monitor: str = UNTIL_READY  # UNTIL_READY or CONTINUOUSLY


def parse(directive: Directive) -> ReadyOptions:
    max_args(directive, 1)
    monitor = UNTIL_READY
    for option in directive.block:
        if option.name != "monitor":
            fail(option, f"unknown property '{option.name}'", "ready")
        if len(option.args) != 1:
            fail(option, "monitor needs one of: until-ready, continuously", "ready")
        if option.args[0] not in (UNTIL_READY, CONTINUOUSLY):
            fail(option, f"monitor type '{option.args[0]}' not supported", "ready")
        monitor = option.args[0]
    return ReadyOptions(listen_address(directive) or DEFAULT_ADDRESS, monitor)


class Ready(Plugin):
    """200 once every plugin of this block that reports readiness is ready; else 503 naming them.

    As CoreDNS's plugin/ready: with ``monitor until-ready`` (the default) a plugin
    that said it is ready once is not asked again; with ``continuously`` it is
    asked on every request.  From the moment shutdown starts the answer is 503
    ``Shutting down`` (ready.go), through the *health* plugin's lame duck.
    """

    name = "ready"
    replies_outlive_reload = True
    handles_queries = False

    def __init__(
        self,
        opts: ReadyOptions,
        host: Host,
        block_plugins: Callable[[], tuple[Plugin, ...]],
    ) -> None:
        self.address = opts.address
        self.monitor = opts.monitor
        self.host = host
        self.block_plugins = block_plugins
        self.watched: dict[str, Plugin] = {}
        self.shutting_down = False

    async def start(self) -> None:
        self.watched = {p.name: p for p in self.block_plugins() if p.ready() is not None}
        await self.host.add_route(self.address, DEFAULT_PORT, "/ready", self.readiness)

    def not_ready(self) -> list[str]:
        waiting = []
        for name, plugin in list(self.watched.items()):
            if plugin.ready():
                if self.monitor == UNTIL_READY:
                    del self.watched[name]
            else:
                waiting.append(name)
        return sorted(waiting)

    async def readiness(self) -> tuple[int, str, bytes]:
        if self.shutting_down:
            return 503, "text/plain", b"Shutting down"
        waiting = self.not_ready()
        if not waiting:
            return 200, "text/plain", b"OK"
        return 503, "text/plain", ",".join(waiting).encode()

    async def lameduck(self) -> None:
        self.shutting_down = True

    async def stop(self) -> None:
        self.host.remove_route(self.address, DEFAULT_PORT, "/ready", self.readiness)
