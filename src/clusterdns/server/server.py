"""Assembling and running servers from a Corefile: start, reload, stop.

Everything that can fail is done before a socket is bound: the Corefile is
parsed, every plugin is set up, every zone is placed on its address.  Then, as
CoreDNS does it (caddy runs every OnStartup callback before it starts the
servers, and the kubernetes plugin's OnStartup waits for its first sync or
``startup_timeout``), the plugins start before the listeners open: the ports
are bound first, so a port in use is reported at once, but a query sent
meanwhile is refused by the kernel (TCP RST, ICMP port unreachable for UDP)
and the client moves on to another server instead of waiting or caching a
SERVFAIL.  A reload builds the new configuration the same way while the old
one keeps serving, then swaps the routing tables of the listeners in one
step; a bad file leaves the old configuration in place.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from clusterdns.collector import COLLECTOR
from clusterdns.corefile import ServerBlock, block_addresses, parse
from clusterdns.corefile.files import glob_files, read_text
from clusterdns.corefile.model import Directive
from clusterdns.dns.names import split_host_port
from clusterdns.dns.wire import REFUSED, SERVFAIL
from clusterdns.errors import ConfigError
from clusterdns.plugins import registry
from clusterdns.plugins.plugin import (
    FOREVER,
    Handler,
    Plugin,
    Reply,
    Request,
    Route,
    SetupContext,
)
from clusterdns.plugins.views import view_key
from clusterdns.server.dispatch import DROPPED_ZONE, ENABLE_CHAOS, Block, Dispatcher
from clusterdns.server.http import HTTPEndpoint
from clusterdns.server.listeners import TCPServer, UDPListener
from clusterdns.server.stats import Collector, Stats
from clusterdns.slices import SHARED as SLICER

log = logging.getLogger("clusterdns.server")

DEFAULT_PORT = 53


@dataclass
class PlannedBlock:
    """A server block set up but not yet serving: its plugins and where it listens."""

    zones: tuple[str, ...]
    #: the port of the block's first key: the one its plugins see (CoreDNS sets plugins
    #: up once, for the first key's config)
    port: int
    hosts: tuple[str, ...]
    plugins: tuple[Plugin, ...]
    handler: Handler
    memo_safe: bool
    #: (zone, port) of every key, in key order; keys of one block may name different ports
    addresses: tuple[tuple[str, int], ...] = ()
    #: where the block starts, for errors about its keys
    file: str = ""
    line: int = 0
    #: a ``prometheus`` plugin asked for this block's queries to be exported
    metered: bool = False
    #: ``errors { stacktrace }``: a handler's exception is logged with its traceback
    stacktrace: bool = False
    #: the dispatchers this block is placed on, set when it is activated
    dispatchers: list[Dispatcher] = field(default_factory=list)
    #: the plugin each directive built, by ``views.view_key`` (text, block keys, addresses)
    built_from: dict[str, Plugin] = field(default_factory=dict)
    #: ``Block.lasting``: the directives' keys when the chain's replies outlive a reload
    lasting: tuple[str, ...] = ()

    def invalidate(self) -> None:
        """Forget the memoized replies of the listeners this block is on."""
        for dispatcher in self.dispatchers:
            dispatcher.invalidate()


@dataclass
class Listener:
    host: str
    port: int
    dispatcher: Dispatcher
    udp: asyncio.DatagramTransport | None = None
    tcp: asyncio.base_events.Server | None = None
    tcp_server: TCPServer | None = None
    #: bound but not serving yet (see ``_reserve``): a UDP socket that takes no
    #: datagrams and a TCP socket that does not listen
    reserved: tuple[socket.socket, socket.socket] | None = None
    #: the socket ``udp`` serves on, as the server made it
    udp_socket: socket.socket | None = None
    #: the sockets were bound by the supervisor of ``serve -workers`` and are shared by its
    #: workers: they serve as they are (no placeholder: the port already takes datagrams)
    shared: bool = False


async def _no_next(request: Request) -> Reply:
    # CoreDNS: "no next plugin found" is a SERVFAIL written by the server.  Only the
    # configuration decides it, so a plugin that asked on (an ExternalName's upstream
    # lookup) may memoize what it built on it (``memo_until``).
    return Reply(None, SERVFAIL, "", FOREVER, f"no next plugin found for {request.name}")


async def _no_chain(request: Request) -> Reply:
    # CoreDNS core/dnsserver/server.go: a zone whose block has no plugin that
    # serves queries (only health, ready, bind, ...) is answered REFUSED.
    return Reply.unanswered(REFUSED)


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


def _in_place(exc: ConfigError, directive: Directive) -> ConfigError:
    """``exc`` naming the plugin of ``directive`` and, when it names none, its file and line.

    Options inside a plugin's block are Directives too; whatever helper raised,
    the message reads ``plugin/<directive>: <file>:<line>: ...``.
    """
    if exc.plugin == directive.name and exc.file:
        return exc
    return ConfigError(
        exc.reason,
        file=exc.file or directive.file,
        line=exc.line if exc.file else directive.line,
        plugin=directive.name,
    )


class Server:
    """All listeners of one process, built from one Corefile; the ``Host`` plugins see."""

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
        self.reload_failures = 0
        self._metered: set[tuple[str, str]] = set()
        self._collector = Collector(self.stats, self._is_metered)
        self._swap = asyncio.Lock()
        #: (host, port) -> UDP and TCP sockets bound by a supervisor (``serve -workers``)
        self.shared_sockets: dict[tuple[str, int], tuple[socket.socket, socket.socket]] = {}
        #: False in a worker: its HTTP routes are answered through the supervisor's endpoints
        self.bind_http = True

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
        placed: list[tuple[str, int]] = []
        for address in block_addresses(block, self.default_port):
            if address.scheme != "dns":
                raise ConfigError(
                    f"server key {address.key!r}: {address.scheme}:// is not served by "
                    "clusterdns (plain DNS over UDP and TCP only); use dns:// or no scheme",
                    file=block.file,
                    line=block.line,
                )
            port = address.port if address.port is not None else self.default_port
            placed.append((address.zone, port))
        # CoreDNS (core/dnsserver/register.go): each key is a config of its own, with its
        # own port; the plugins are set up once, with the first key's config.
        zones = tuple(dict.fromkeys(zone for zone, _ in placed))
        port = placed[0][1]
        self._check_directives(block)
        ordered = sorted(block.directives, key=lambda d: registry.position(d.name))
        planned = PlannedBlock(
            zones=zones,
            port=port,
            hosts=("",),
            plugins=(),
            handler=_no_next,
            memo_safe=True,
            addresses=tuple(placed),
            file=block.file,
            line=block.line,
        )

        def meter() -> None:
            planned.metered = True

        def stacktrace() -> None:
            planned.stacktrace = True

        plugins: list[Plugin] = []
        built: dict[str, Plugin] = {}
        listen: tuple[str, ...] = ()
        for directive in ordered:
            setup = registry.setup_for(directive)
            key = view_key(block.keys, listen, directive)
            ctx = SetupContext(
                keys=block.keys,
                zones=zones,
                port=port,
                config_file=self.filename,
                host=self,
                listen=listen,
                invalidate=planned.invalidate,
                previous=built.get(directive.name),
                replacing=self._running_plugin(key),
                block_plugins=lambda: planned.plugins,
                meter=meter,
                stacktrace=stacktrace,
            )
            try:
                plugin = setup(directive, ctx)
            except ConfigError as exc:
                raise _in_place(exc, directive) from exc
            built[directive.name] = plugin
            planned.built_from[key] = plugin
            if plugin not in plugins:  # a plugin may collect several lines (log, bind)
                plugins.append(plugin)
            listen = plugin.listen_hosts() or listen
        in_chain = [p for p in plugins if p.handles_queries]
        planned.hosts = listen or ("",)
        planned.plugins = tuple(plugins)
        planned.handler = chain(in_chain) if in_chain else _no_chain
        planned.memo_safe = all(p.memo_safe for p in in_chain)
        if all(p.replies_outlive_reload for p in in_chain):
            planned.lasting = tuple(planned.built_from)
        return planned

    def _running_plugin(self, key: str) -> Plugin | None:
        for block in self.blocks:
            plugin = block.built_from.get(key)
            if plugin is not None:
                return plugin
        return None

    @staticmethod
    def _check_directives(block: ServerBlock) -> None:
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
            seen.setdefault(directive.name, directive.line)

    def _check_duplicates(self, planned: list[PlannedBlock]) -> None:
        """Each zone once per address and port, as CoreDNS's zoneOverlap checks it.

        A zone served on a port without ``bind`` (every address) also overlaps the
        same zone and port bound to one address, in either order
        (core/dnsserver/address.go registerAndCheck).
        """
        registered: set[tuple[str, str, int]] = set()
        unbound: dict[tuple[str, int], tuple[str, str, int]] = {}
        for block in planned:
            for zone, port in block.addresses:
                for host in block.hosts:
                    key = (zone, host, port)
                    problem = ""
                    if key in registered:
                        problem = "it is already defined"
                    elif (zone, port) in unbound:
                        if not host:
                            problem = "zone overlap listener capacity with " + _zone_addr(
                                *unbound[(zone, port)]
                            )
                        elif (zone, "", port) in registered:
                            problem = "zone overlap listener capacity with " + _zone_addr(
                                zone, "", port
                            )
                    if problem:
                        raise ConfigError(
                            f"cannot serve {_zone_addr(*key)} - {problem}",
                            file=block.file or self.filename,
                            line=block.line,
                        )
                    registered.add(key)
                    unbound[(zone, port)] = key

    # -- running -----------------------------------------------------------

    async def start(self, planned: list[PlannedBlock] | None = None) -> None:
        """Bind and serve; ``planned`` is a plan already made from ``self.text``."""
        await self._activate(planned if planned is not None else self.plan(self.text))

    async def _activate(self, planned: list[PlannedBlock]) -> None:
        """Serve ``planned`` in place of the running blocks.

        New listeners are bound and the new plugins started while the old
        configuration still answers; only when all of that worked are the
        routing tables swapped.  On any failure the new plugins are stopped,
        the listeners opened for them closed, and the old configuration stays.
        """
        async with self._swap:
            wanted: dict[tuple[str, int], list[Block]] = {}
            for block in planned:
                taps = tuple(p for p in block.plugins if p.taps_queries)
                any_class = any(p.name in ENABLE_CHAOS for p in block.plugins)
                for host in block.hosts:
                    for zone, port in block.addresses:
                        wanted.setdefault((host, port), []).append(
                            Block(
                                zone=zone,
                                handler=block.handler,
                                memo_safe=block.memo_safe,
                                lasting=block.lasting,
                                stacktrace=block.stacktrace,
                                taps=taps,
                                any_class=any_class,
                            )
                        )
            opened: list[tuple[str, int]] = []
            plugins = [p for b in planned for p in b.plugins]
            started = False
            try:
                for key in wanted:
                    if key not in self.listeners:
                        self._reserve(*key)
                        opened.append(key)
                for block in planned:
                    block.dispatchers = [
                        self.listeners[(h, port)].dispatcher
                        for h in block.hosts
                        for port in dict.fromkeys(port for _, port in block.addresses)
                    ]
                with COLLECTOR.building():
                    await _start_all(plugins)
                started = True
                for key in opened:
                    listener = self.listeners[key]
                    listener.dispatcher.set_blocks(wanted[key])
                    await self._open(listener)
            except BaseException:
                for block in planned:
                    block.dispatchers = []
                for key in opened:
                    await self._close_listener(self.listeners.pop(key))
                if started:
                    await asyncio.gather(*(p.stop() for p in plugins), return_exceptions=True)
                raise
            for key, blocks in wanted.items():
                self.listeners[key].dispatcher.set_blocks(blocks)
            old_blocks, self.blocks = self.blocks, planned
            for block in planned:
                for plugin in block.plugins:
                    plugin.serving()
            self._metered = set()
            for block in planned:
                for host in block.hosts:
                    for zone, port in block.addresses:
                        server = self.listeners[(host, port)].dispatcher.server
                        if block.metered:
                            self._metered |= {(server, zone), (server, DROPPED_ZONE)}
                        for plugin in block.plugins:
                            self.stats.plugins_enabled.add((server, zone, plugin.name))
            for key in [k for k in self.listeners if k not in wanted]:
                await self._close_listener(self.listeners.pop(key))
            await asyncio.gather(*(p.stop() for b in old_blocks for p in b.plugins))

    def _is_metered(self, server: str, zone: str) -> bool:
        return (server, zone) in self._metered

    def _reserve(self, host: str, port: int) -> Listener:
        """Bind the UDP and TCP ports of a listener without serving on them yet.

        A port in use fails here, before any plugin starts.  The TCP socket does
        not listen (connections get RST); the UDP socket is connected to its own
        address, so the kernel delivers it nothing and answers every other
        sender ICMP port unreachable, as if nothing were bound.
        """
        dispatcher = Dispatcher(f"dns://:{port}", self.stats)
        listener = Listener(host, port, dispatcher)
        shared = self.shared_sockets.get((host, port))
        if shared is not None:
            listener.port = shared[0].getsockname()[1]
            dispatcher.server = server_label(host, listener.port)
            listener.reserved, listener.shared = shared, True
            self.listeners[(host, port)] = listener
            return listener
        udp_sock, tcp_sock = socket_pair(host, port)
        listener.port = bound = udp_sock.getsockname()[1]
        dispatcher.server = server_label(host, bound)
        try:
            udp_sock.connect((_own_address(host), bound))
        except OSError as exc:
            udp_sock.close()
            tcp_sock.close()
            raise ConfigError(f"cannot reserve {host or '*'}:{bound}/udp: {exc.strerror}") from exc
        listener.reserved = (udp_sock, tcp_sock)
        self.listeners[(host, port)] = listener
        return listener

    async def _open(self, listener: Listener) -> None:
        """Serve a reserved listener: a new UDP socket takes the port over, TCP listens."""
        assert listener.reserved is not None
        loop = asyncio.get_running_loop()
        placeholder, tcp_sock = listener.reserved
        dispatcher = listener.dispatcher
        # both UDP sockets have SO_REUSEADDR, so the serving one binds beside the
        # placeholder; the port is never free for another process to take
        udp_sock = placeholder if listener.shared else _udp_socket(listener.host, listener.port)
        # long work (a list, a reload) lets the queries queued here be read first
        SLICER.watch(udp_sock)
        listener.udp_socket = udp_sock
        listener.udp, _ = await loop.create_datagram_endpoint(
            lambda: UDPListener(dispatcher), sock=udp_sock
        )
        if not listener.shared:
            placeholder.close()
        tcp_server = TCPServer(dispatcher)
        listener.tcp_server = tcp_server
        listener.tcp = await loop.create_server(tcp_server.protocol, sock=tcp_sock, backlog=1024)
        listener.reserved = None
        log.debug("listening on %s:%d udp+tcp", listener.host or "*", listener.port)

    async def _close_listener(self, listener: Listener) -> None:
        if listener.reserved is not None:
            for sock in listener.reserved:
                sock.close()
            listener.reserved = None
        if listener.udp_socket is not None:
            SLICER.unwatch(listener.udp_socket)
            listener.udp_socket = None
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

    async def stop(self) -> None:
        """Lame duck first (listeners still answer), then close everything."""
        await asyncio.gather(*(p.lameduck() for b in self.blocks for p in b.plugins))
        for listener in list(self.listeners.values()):
            await self._close_listener(listener)
        self.listeners.clear()
        await asyncio.gather(*(p.stop() for b in self.blocks for p in b.plugins))
        for endpoint in self.http.values():
            await endpoint.close()
        self.http.clear()

    def addresses(self) -> list[tuple[str, int]]:
        return [(listener.host or "0.0.0.0", listener.port) for listener in self.listeners.values()]

    # -- the Host interface plugins see (clusterdns.plugins.plugin.Host) -----

    @property
    def config_text(self) -> str:
        return self.text

    async def http_endpoint(self, address: str, default_port: int) -> HTTPEndpoint:
        host, port = split_host_port(address, default_port)
        endpoint = self.http.get((host, port))
        if endpoint is None:
            endpoint = self.http[(host, port)] = HTTPEndpoint(host, port)
            if self.bind_http:
                await endpoint.start()
        return endpoint

    async def add_route(self, address: str, default_port: int, path: str, route: Route) -> int:
        endpoint = await self.http_endpoint(address, default_port)
        endpoint.add(path, route)
        return endpoint.port

    def remove_route(self, address: str, default_port: int, path: str, route: Route) -> None:
        endpoint = self.http.get(split_host_port(address, default_port))
        if endpoint is not None:
            endpoint.remove(path, route)

    def metrics_collector(self) -> Collector:
        return self._collector

    def replies(self, plugin: str, server: str, zones: frozenset[str]) -> tuple[float, float]:
        return self.stats.replies(plugin, server, zones)

    def bound_port(self, host: str, port: int) -> int:
        listener = self.listeners.get((host, port))
        return listener.port if listener is not None else port


async def _start_all(plugins: list[Plugin]) -> None:
    """Start every plugin; when one fails, stop the ones that started and raise its error."""
    results = await asyncio.gather(*(p.start() for p in plugins), return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:
        await asyncio.gather(*(p.stop() for p in plugins), return_exceptions=True)
        raise failed[0]


def _zone_addr(zone: str, host: str, port: int) -> str:
    """CoreDNS's zoneAddr text: ``dns://example.org.:53``, `` on 127.0.0.1`` when bound."""
    return f"dns://{zone}:{port}" + (f" on {host}" if host else "")


def server_label(host: str, port: int) -> str:
    """CoreDNS's ``server`` metric label: ``dns://:53``, or ``dns://127.0.0.1:53`` with bind."""
    if ":" in host:
        host = f"[{host}]"
    return f"dns://{host}:{port}"


def socket_pair(
    host: str, port: int, *, reuse_port: bool = False
) -> tuple[socket.socket, socket.socket]:
    """UDP and TCP sockets on one port; for port 0 (tests) TCP takes the port UDP got.

    The kernel picks the UDP port without looking at TCP, so that port may be
    taken for TCP: then try again with another.  ``reuse_port``: SO_REUSEPORT,
    one socket per worker in a group the kernel spreads flows over.
    """
    for _ in range(20 if port == 0 else 1):
        udp = _udp_socket(host, port, reuse_port)
        try:
            return udp, _tcp_socket(host, udp.getsockname()[1], reuse_port)
        except ConfigError:
            udp.close()
            if port != 0:
                raise
    raise ConfigError(f"cannot find a free port for UDP and TCP on {host or '*'}")


def _bind_hint(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return " (another process holds this port: stop it, or give the server block another port)"
    if exc.errno == errno.EACCES:
        return " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
    return ""


def _own_address(host: str) -> str:
    """The address a socket bound to ``host`` reaches itself on (loopback for a wildcard)."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _udp_socket(host: str, port: int, reuse_port: bool = False) -> socket.socket:
    sock = socket.socket(_family(host), socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    return _bind(sock, host, port, "udp")


def _tcp_socket(host: str, port: int, reuse_port: bool = False) -> socket.socket:
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    return _bind(sock, host, port, "tcp")


def _bind(sock: socket.socket, host: str, port: int, proto: str) -> socket.socket:
    """Bind a new listening socket, non-blocking; a failure names the address to fix."""
    try:
        sock.bind((host or ("::" if sock.family == socket.AF_INET6 else "0.0.0.0"), port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host or '*'}:{port}/{proto}: {exc.strerror}{_bind_hint(exc)}"
        ) from exc
    sock.setblocking(False)
    return sock
