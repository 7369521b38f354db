"""The plugin contract, as CoreDNS's ``plugin.Handler``.

A plugin is built once from its Corefile directive by its module's
``setup(directive, ctx)``; per query the server calls ``serve(request, next)``.
``serve`` answers (a ``Reply`` with wire bytes), passes the request on
(``await next(request)``), or returns ``Reply.unanswered(rcode)`` meaning
"not answered, let the server write this rcode" (SERVFAIL, REFUSED, FORMERR,
NOTIMP).  It raises only for bugs: the server turns an exception into SERVFAIL
and counts it in ``coredns_panics_total``.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Protocol

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from clusterdns.dns.wire import Query

if TYPE_CHECKING:
    from clusterdns.corefile.model import Directive

FOREVER = math.inf
#: the guard of a reply that stays valid until its ``memo_until`` alone
UNGUARDED: tuple[list[int], int] = ([0], 0)


class Request:
    """One query on its way through a chain: the parsed query and where it came from."""

    __slots__ = ("query", "transport", "client", "server", "zone", "received", "local")

    def __init__(
        self,
        query: Query,
        transport: str,
        client: tuple[str, int],
        server: str,
        zone: str,
        received: float,
        local: str = "",
    ) -> None:
        self.query = query
        self.transport = transport  # "udp" or "tcp"
        self.client = client
        self.server = server  # the server's address label, "dns://:53"
        self.zone = zone  # the server block zone that matched
        self.received = received
        #: the address the query came in on: the listening socket's (UDP), the connection's (TCP)
        self.local = local

    def with_query(
        self, query: Query, *, transport: str | None = None, received: float | None = None
    ) -> Request:
        """This request asking ``query`` instead, every other field kept.

        ``transport`` replaces the transport (a sub-query asked "as over TCP" so the
        rest of the chain does not truncate it); ``received`` the arrival time.
        """
        return Request(
            query,
            self.transport if transport is None else transport,
            self.client,
            self.server,
            self.zone,
            self.received if received is None else received,
            self.local,
        )

    @property
    def name(self) -> str:
        return self.query.name

    @property
    def qtype(self) -> int:
        return self.query.qtype

    @property
    def udp(self) -> bool:
        return self.transport == "udp"

    @property
    def family(self) -> int:
        """1 for IPv4, 2 for IPv6, as CoreDNS's ``family`` label."""
        return 2 if ":" in self.client[0] else 1


class Reply:
    """What a handler returns.

    ``wire`` is the reply to send, or None when the handler did not answer and
    the server should write ``rcode``.  ``memo_until`` says until when (on the
    server's monotonic clock) the same query bytes may be answered with the
    same reply bytes without running the chain: ``FOREVER`` for authoritative
    data (until the plugin calls ``invalidate`` or its guard moves), 0 for
    never.  ``guard`` is a (cell, version) pair: the memoized reply is valid
    only while ``cell[0] == version`` (see ``dns/zone.py``'s ``Versions``).
    """

    __slots__ = ("wire", "rcode", "plugin", "memo_until", "error", "guard")

    def __init__(
        self,
        wire: bytes | None,
        rcode: int,
        plugin: str,
        memo_until: float = 0.0,
        error: str | None = None,
        guard: tuple[list[int], int] | None = None,
    ) -> None:
        self.wire = wire
        self.rcode = rcode
        self.plugin = plugin
        self.memo_until = memo_until
        self.error = error
        self.guard = guard

    @classmethod
    def unanswered(cls, rcode: int, plugin: str = "", error: str | None = None) -> Reply:
        return cls(None, rcode, plugin, 0.0, error)


Handler = Callable[[Request], Awaitable[Reply]]

Hit = tuple[bytes, bytes, tuple[str, int], str, str, float, float]
"""A query answered from the server's memo, as its listener saw it: (query bytes, reply
bytes, client address, "udp" or "tcp", local address, received, sent), the times
``time.perf_counter()``'s."""


class Plugin:
    """Base class: override what the plugin needs."""

    name: ClassVar[str] = ""
    #: answers that passed through this plugin may be memoized by the server
    memo_safe: ClassVar[bool] = True
    #: a reload that leaves this plugin's directive (and its whole block) as it was may keep
    #: the memoized replies the plugin took part in: they depend on the directive's text
    #: only, or on data a reload carries over with the guards of its replies (kubernetes).
    #: Not so for a plugin that reads its data again into a new table (file, hosts, etcd).
    replies_outlive_reload: ClassVar[bool] = False
    #: the plugin takes part in the per-query chain (config-only plugins do not)
    handles_queries: ClassVar[bool] = True
    #: the server calls ``tap_query``/``tap_reply`` for every query of the block, memo
    #: hits included (dnstap, dump): the hooks must be cheap and must not raise
    taps_queries: ClassVar[bool] = False

    async def serve(self, request: Request, next: Handler) -> Reply:
        return await next(request)

    async def start(self) -> None:
        """Called once the sockets are bound, before this configuration gets its first query.

        On a reload the new configuration's plugins start while the old one
        still serves; an exception here keeps the old configuration.
        """

    def serving(self) -> None:
        """Called right after the swap: this configuration now answers queries (``loop``'s probe)."""

    async def lameduck(self) -> None:
        """Called when shutdown starts, while the listeners still answer (``health``'s wait)."""

    async def stop(self) -> None:
        """Called on shutdown and when a reload replaces this instance."""

    def listen_hosts(self) -> tuple[str, ...]:
        """The addresses this block listens on, for the plugin that places it (``bind``)."""
        return ()

    def ready(self) -> bool | None:
        """True/False when the plugin reports readiness (``ready`` plugin); None when it does not."""
        return None

    def tap_query(self, seen: Seen) -> None:
        """A query of this block arrived, before any plugin ran (only when ``taps_queries``)."""

    def tap_reply(self, seen: Seen, wire: bytes, rcode: int) -> None:
        """The reply the server sends for ``seen`` (memo hits included; only when ``taps_queries``)."""

    def tap_hit(self, hit: Hit, server: str, zone: str) -> None:
        """A memo hit: query and reply at once (only when ``taps_queries``).

        The default shows it to ``tap_query`` and ``tap_reply``; a tap on the
        hot path (dnstap) overrides it to skip building a ``Seen``.
        """
        data, wire, client, transport, local, received, _sent = hit
        seen = Seen(data, client, transport, local, received, server, zone)
        self.tap_query(seen)
        self.tap_reply(seen, wire, wire[3] & 0xF)

    def tap_forwarder(
        self,
        query: bytes,
        reply: bytes | None,
        upstream: tuple[str, int],
        proto: str,
        started: float,
    ) -> None:
        """One exchange of ``forward`` with ``upstream`` (dnstap, trace): called when overridden.

        ``reply`` is None when the upstream did not answer; ``started`` is the
        ``time.perf_counter()`` at which the query was sent.  Called in the task
        of the query being forwarded, right after the exchange; must not raise.
        """


class Seen:
    """A query as the server received it, for the plugins that tap queries.

    Only bytes and addresses: building it costs nothing on the memo path, and
    a tap that needs the question parses ``data`` itself.
    """

    __slots__ = ("data", "client", "transport", "local", "received", "server", "zone")

    def __init__(
        self,
        data: bytes,
        client: tuple[str, int],
        transport: str,
        local: str,
        received: float,
        server: str,
        zone: str,
    ) -> None:
        self.data = data
        self.client = client
        self.transport = transport  # "udp" or "tcp"
        self.local = local  # the address the query came in on
        self.received = received  # time.perf_counter() at arrival
        self.server = server  # "dns://:53"
        self.zone = zone  # the server block zone that took it


class Invalidate(Protocol):
    def __call__(self) -> None: ...


Route = Callable[[], Awaitable[tuple[int, str, bytes]]]
"""An HTTP handler: no arguments, returns (status, content type, body)."""


class Host(Protocol):
    """The server as a plugin sees it: the one way in, typed.

    Plugins never import ``clusterdns.server``; the server hands each plugin's
    setup this interface (``SetupContext.host``) and a few plain fields.
    """

    @property
    def config_text(self) -> str:
        """The Corefile text of the configuration being served."""
        ...

    async def add_route(self, address: str, default_port: int, path: str, route: Route) -> int:
        """Serve ``path`` on the HTTP listener at ``address`` (shared by address); the bound port."""
        ...

    def remove_route(self, address: str, default_port: int, path: str, route: Route) -> None:
        """Stop serving ``route``; the listener stays while other routes use it."""
        ...

    def metrics_collector(self) -> Collector:
        """A prometheus_client collector of the per-query metrics of the metered blocks."""
        ...

    def replies(self, plugin: str, server: str, zones: frozenset[str]) -> tuple[float, float]:
        """Replies the server sent written by ``plugin``: (NOERROR, other rcodes) counts."""
        ...

    async def reload(self, text: str) -> bool:
        """Swap in the configuration ``text``; False (old one kept) when it fails."""
        ...

    def bound_port(self, host: str, port: int) -> int:
        """The port a block's listener on ``host`` really got (``port`` 0 in tests)."""
        ...


class DetachedHost:
    """The host of a plugin set up outside a server (unit tests): nothing is served."""

    config_text = ""

    async def add_route(self, address: str, default_port: int, path: str, route: Route) -> int:
        return 0

    def remove_route(self, address: str, default_port: int, path: str, route: Route) -> None:
        pass

    def metrics_collector(self) -> Collector:
        return _NoMetrics()

    def replies(self, plugin: str, server: str, zones: frozenset[str]) -> tuple[float, float]:
        return 0.0, 0.0

    async def reload(self, text: str) -> bool:
        return False

    def bound_port(self, host: str, port: int) -> int:
        return port


class _NoMetrics:
    def collect(self) -> Iterable[Metric]:
        return ()


def _nothing() -> None:
    pass


def no_plugins() -> tuple[Plugin, ...]:
    """The plugins of no block: what a plugin built outside a server sees."""
    return ()


@dataclass(frozen=True, slots=True)
class SetupContext:
    """What a plugin's ``setup`` may use: its server block and the typed ``Host``."""

    keys: tuple[str, ...]
    zones: tuple[str, ...]
    port: int
    config_file: str
    host: Host = field(default_factory=DetachedHost)
    #: the addresses the block listens on (its ``bind`` lines); () means every address
    listen: tuple[str, ...] = ()
    #: drop memoized replies of this server block: call after authoritative data changes
    invalidate: Invalidate = _nothing
    #: the plugin built from an earlier line of the same directive in this block
    #: (``forward`` chains, ``log`` and ``bind`` collect their lines into one plugin)
    previous: Plugin | None = None
    #: on reload, the running plugin this directive built before (same text, same block
    #: keys and addresses): a plugin may carry its state over (``kubernetes`` does)
    replacing: Plugin | None = None
    #: the plugins of this block, in chain order; complete once the block is set up
    block_plugins: Callable[[], tuple[Plugin, ...]] = no_plugins
    #: count this block's queries in the exported per-query metrics (``prometheus``)
    meter: Callable[[], None] = _nothing
    #: log a handler's traceback with its "Recovered from panic" line (``errors { stacktrace }``)
    stacktrace: Callable[[], None] = _nothing


Setup = Callable[["Directive", SetupContext], Plugin]
