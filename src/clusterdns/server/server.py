"""Assembling and running servers from a Corefile: start, reload, stop.

Everything that can fail is done before a socket is bound: the Corefile is
parsed, every plugin is set up, every zone is placed on its address.  A reload
builds the new configuration the same way while the old one keeps serving,
then swaps the routing tables of the listeners in one step; a bad file leaves
the old configuration in place.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from clusterdns.corefile import ServerBlock, parse, parse_server_key
from clusterdns.corefile.files import glob_files, read_text
from clusterdns.dns.wire import SERVFAIL
from clusterdns.errors import ConfigError
from clusterdns.plugins import registry
from clusterdns.plugins.plugin import Handler, Plugin, Reply, Request, SetupContext
from clusterdns.server.dispatch import Block, Dispatcher
from clusterdns.server.http import HTTPEndpoint, split_address
from clusterdns.server.listeners import TCPServer, UDPListener
from clusterdns.server.stats import Stats

log = logging.getLogger("clusterdns.server")

DEFAULT_PORT = 53


@dataclass
class PlannedBlock:
    """A server block set up but not yet serving: its plugins and where it listens."""

    zones: tuple[str, ...]
    port: int
    hosts: tuple[str, ...]
    plugins: tuple[Plugin, ...]
    handler: Handler
    memo_safe: bool
    contexts: list[SetupContext] = field(default_factory=list)


@dataclass
class Listener:
    host: str
    port: int
    dispatcher: Dispatcher
    udp: asyncio.DatagramTransport | None = None
    tcp: asyncio.base_events.Server | None = None
    tcp_server: TCPServer | None = None


async def _no_next(request: Request) -> Reply:
    # CoreDNS: "no next plugin found" is a SERVFAIL written by the server.
    return Reply.unanswered(SERVFAIL, "", f"no next plugin found for {request.name}")


def chain(plugins: Iterable[Plugin]) -> Handler:
    """Link plugins so each one's ``next`` is the one after it."""
    handler: Handler = _no_next
    for plugin in reversed(list(plugins)):
        handler = _link(plugin, handler)
    return handler


def _link(plugin: Plugin, next_handler: Handler) -> Handler:
    serve = plugin.serve

    def handle(request: Request) -> Any:
        return serve(request, next_handler)

    return handle


class Server:
    """All listeners of one process, built from one Corefile."""

    def __init__(
        self, text: str, filename: str = "Corefile", *, default_port: int = DEFAULT_PORT
    ) -> None:
        self.filename = filename
        self.text = text
        self.default_port = default_port
        self.stats = Stats()
        self.listeners: dict[tuple[str, int], Listener] = {}
        self.http: dict[tuple[str, int], HTTPEndpoint] = {}
        self.blocks: list[PlannedBlock] = []
        self.started = False
        self.reload_failures = 0
        self._stopping = asyncio.Event()

    # -- building ----------------------------------------------------------

    def plan(self, text: str) -> list[PlannedBlock]:
        """Parse ``text`` and set up every plugin; raise ConfigError naming file and line."""
        blocks = parse(
            text,
            self.filename,
            env=os.environ,
            read_file=read_text,
            glob=glob_files,
            warn=lambda message: log.warning("%s", message),
        )
        if not blocks:
            raise ConfigError("no server blocks", file=self.filename, line=1)
        planned = [self._plan_block(block) for block in blocks]
        self._check_duplicates(planned)
        return planned

    def _plan_block(self, block: ServerBlock) -> PlannedBlock:
        addresses = [a for key in block.keys for a in parse_server_key(key, self.default_port)]
        ports = {a.port if a.port is not None else self.default_port for a in addresses}
        if len(ports) != 1:
            raise ConfigError(
                "all keys of a server block must use one port", file=block.file, line=block.line
            )
        port = ports.pop()
        zones = tuple(dict.fromkeys(a.zone for a in addresses))
        seen: dict[str, int] = {}
        for directive in block.directives:
            if not registry.known(directive.name):
                raise ConfigError(
                    f"unknown directive '{directive.name}'",
                    file=directive.file,
                    line=directive.line,
                )
            if directive.name in seen and directive.name in registry.SINGLETON:
                raise ConfigError(
                    f"directive '{directive.name}' given twice (first on line {seen[directive.name]})",
                    file=directive.file,
                    line=directive.line,
                    plugin=directive.name,
                )
            seen[directive.name] = directive.line
        ordered = sorted(block.directives, key=lambda d: registry.position(d.name))
        shared: dict[str, Any] = {"server": self}
        plugins = []
        for directive in ordered:
            setup = registry.setup_function(directive.name)
            if setup is None:
                raise ConfigError(
                    "this plugin is not built into clusterdns yet",
                    file=directive.file,
                    line=directive.line,
                    plugin=directive.name,
                )
            ctx = SetupContext(
                keys=block.keys,
                zones=zones,
                port=port,
                config_file=self.filename,
                invalidate=self.invalidate,
                shared=shared,
                directives=block.directives,
            )
            plugin = setup(directive, ctx)
            shared[directive.name] = plugin
            plugins.append(plugin)
        hosts = tuple(getattr(shared.get("bind"), "hosts", ()) or ("",))
        in_chain = [p for p in plugins if p.handles_queries]
        return PlannedBlock(
            zones=zones,
            port=port,
            hosts=hosts,
            plugins=tuple(plugins),
            handler=chain(in_chain),
            memo_safe=all(p.memo_safe for p in in_chain),
        )

    def _check_duplicates(self, planned: list[PlannedBlock]) -> None:
        seen: set[tuple[str, str, int]] = set()
        for block in planned:
            for host in block.hosts:
                for zone in block.zones:
                    key = (host, zone, block.port)
                    if key in seen:
                        raise ConfigError(
                            f"cannot serve dns://{zone}:{block.port} - it is already defined",
                            file=self.filename,
                        )
                    seen.add(key)

    # -- running -----------------------------------------------------------

    async def start(self, planned: list[PlannedBlock] | None = None) -> None:
        """Bind and serve; ``planned`` is a plan already made from ``self.text``."""
        await self._activate(planned if planned is not None else self.plan(self.text))
        self.started = True

    async def _activate(self, planned: list[PlannedBlock]) -> None:
        wanted: dict[tuple[str, int], list[Block]] = {}
        for block in planned:
            for host in block.hosts:
                entries = wanted.setdefault((host, block.port), [])
                entries.extend(
                    Block(zone, block.handler, block.plugins, block.memo_safe)
                    for zone in block.zones
                )
        for (host, port), blocks in wanted.items():
            listener = self.listeners.get((host, port))
            if listener is None:
                listener = await self._listen(host, port)
            listener.dispatcher.set_blocks(blocks)
        old_blocks = self.blocks
        self.blocks = planned
        for block in planned:
            for host in block.hosts:
                label = self.listeners[(host, block.port)].dispatcher.server
                for zone in block.zones:
                    for plugin in block.plugins:
                        self.stats.plugins_enabled.add((label, zone, plugin.name))
        await asyncio.gather(*(p.start() for b in planned for p in b.plugins))
        for key in [k for k in self.listeners if k not in wanted]:
            await self._close_listener(self.listeners.pop(key))
        await asyncio.gather(*(p.stop() for b in old_blocks for p in b.plugins))

    def invalidate(self) -> None:
        """Forget every memoized reply (authoritative data changed)."""
        for listener in self.listeners.values():
            listener.dispatcher.invalidate()

    async def _listen(self, host: str, port: int) -> Listener:
        loop = asyncio.get_running_loop()
        dispatcher = Dispatcher(f"dns://:{port}", self.stats)
        listener = Listener(host, port, dispatcher)
        udp_sock, tcp_sock = _socket_pair(host, port)
        listener.port = bound = udp_sock.getsockname()[1]
        dispatcher.server = server_label(host, bound)
        listener.udp, _ = await loop.create_datagram_endpoint(
            lambda: UDPListener(dispatcher), sock=udp_sock
        )
        tcp_server = TCPServer(dispatcher)
        listener.tcp_server = tcp_server
        listener.tcp = await loop.create_server(tcp_server.protocol, sock=tcp_sock, backlog=1024)
        self.listeners[(host, port)] = listener
        log.debug("listening on %s:%d udp+tcp", host or "*", bound)
        return listener

    async def _close_listener(self, listener: Listener) -> None:
        if listener.udp is not None:
            listener.udp.close()
        if listener.tcp is not None:
            listener.tcp.close()
            if listener.tcp_server is not None:
                for connection in list(listener.tcp_server.connections):
                    if connection.transport is not None:
                        connection.transport.close()
            with contextlib.suppress(Exception):
                await listener.tcp.wait_closed()

    async def reload(self, text: str | None = None) -> bool:
        """Swap in a new configuration; on any error keep the old one and say why."""
        new_text = self.text if text is None else text
        try:
            planned = self.plan(new_text)
            await self._activate(planned)
        except Exception as exc:  # a bad reload must never take the server down
            self.reload_failures += 1
            log.error("[ERROR] Restart failed: %s", exc)
            return False
        self.text = new_text
        log.info("[INFO] Reloading complete")
        return True

    async def http_endpoint(self, address: str, default_port: int) -> HTTPEndpoint:
        host, port = split_address(address, default_port)
        endpoint = self.http.get((host, port))
        if endpoint is None:
            endpoint = self.http[(host, port)] = HTTPEndpoint(host, port)
            await endpoint.start()
        return endpoint

    async def stop(self) -> None:
        """Lame duck first (health keeps answering unhealthy), then close everything."""
        lameducks = [p for b in self.blocks for p in b.plugins if hasattr(p, "lameduck")]
        await asyncio.gather(*(p.lameduck() for p in lameducks))
        for listener in list(self.listeners.values()):
            await self._close_listener(listener)
        self.listeners.clear()
        await asyncio.gather(*(p.stop() for b in self.blocks for p in b.plugins))
        for endpoint in self.http.values():
            await endpoint.close()
        self.http.clear()
        self._stopping.set()

    def addresses(self) -> list[tuple[str, int]]:
        return [(listener.host or "0.0.0.0", listener.port) for listener in self.listeners.values()]

    def ready(self) -> list[str]:
        """Names of plugins that report readiness and are not ready yet."""
        waiting = []
        for block in self.blocks:
            for plugin in block.plugins:
                if plugin.ready() is False:
                    waiting.append(plugin.name)
        return sorted(set(waiting))


def server_label(host: str, port: int) -> str:
    """CoreDNS's ``server`` metric label: ``dns://:53``, or ``dns://127.0.0.1:53`` with bind."""
    if ":" in host:
        host = f"[{host}]"
    return f"dns://{host}:{port}"


def _socket_pair(host: str, port: int) -> tuple[socket.socket, socket.socket]:
    """UDP and TCP sockets on one port; for port 0 (tests) TCP takes the port UDP got.

    The kernel picks the UDP port without looking at TCP, so that port may be
    taken for TCP: then try again with another.
    """
    for _ in range(20 if port == 0 else 1):
        udp = _udp_socket(host, port)
        try:
            return udp, _tcp_socket(host, udp.getsockname()[1])
        except ConfigError:
            udp.close()
            if port != 0:
                raise
    raise ConfigError(f"cannot find a free port for UDP and TCP on {host or '*'}")


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _udp_socket(host: str, port: int) -> socket.socket:
    family = _family(host)
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    try:
        sock.bind((host or ("::" if family == socket.AF_INET6 else "0.0.0.0"), port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host or '*'}:{port}/udp: {exc.strerror}") from exc
    sock.setblocking(False)
    return sock


def _tcp_socket(host: str, port: int) -> socket.socket:
    family = _family(host)
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host or ("::" if family == socket.AF_INET6 else "0.0.0.0"), port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host or '*'}:{port}/tcp: {exc.strerror}") from exc
    sock.setblocking(False)
    return sock
