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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from clusterdns.dns.wire import Query

if TYPE_CHECKING:
    from clusterdns.corefile.model import Directive

FOREVER = math.inf
#: the guard of a reply that stays valid until its ``memo_until`` alone
UNGUARDED: tuple[list[int], int] = ([0], 0)


class Request:
    """One query on its way through a chain: the parsed query and where it came from."""

    __slots__ = ("query", "transport", "client", "server", "zone", "received")

    def __init__(
        self,
        query: Query,
        transport: str,
        client: tuple[str, int],
        server: str,
        zone: str,
        received: float,
    ) -> None:
        self.query = query
        self.transport = transport  # "udp" or "tcp"
        self.client = client
        self.server = server  # the server's address label, "dns://:53"
        self.zone = zone  # the server block zone that matched
        self.received = received

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


class Plugin:
    """Base class: override what the plugin needs."""

    name: ClassVar[str] = ""
    #: answers that passed through this plugin may be memoized by the server
    memo_safe: ClassVar[bool] = True
    #: the plugin takes part in the per-query chain (config-only plugins do not)
    handles_queries: ClassVar[bool] = True

    async def serve(self, request: Request, next: Handler) -> Reply:
        return await next(request)

    async def start(self) -> None:
        """Called once the server's sockets are bound, before the first query."""

    async def stop(self) -> None:
        """Called on shutdown and when a reload replaces this instance."""

    def ready(self) -> bool | None:
        """True/False when the plugin reports readiness (``ready`` plugin); None when it does not."""
        return None


class Invalidate(Protocol):
    def __call__(self) -> None: ...


@dataclass
class SetupContext:
    """What a plugin's ``setup`` may use: the server block it is in and shared services."""

    keys: tuple[str, ...]
    zones: tuple[str, ...]
    port: int
    config_file: str
    #: drop memoized replies of this server block: call after authoritative data changes
    invalidate: Invalidate = lambda: None
    #: plugins of the same block already set up, by name (e.g. for ``ready``)
    shared: dict[str, Any] = field(default_factory=dict)
    #: directives of this server block, for plugins that look at their neighbours
    directives: tuple[Directive, ...] = ()


Setup = Callable[["Directive", SetupContext], Plugin]
