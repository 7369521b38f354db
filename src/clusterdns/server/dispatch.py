"""From query bytes to reply bytes for one listening address.

``Dispatcher`` owns what every listener on one address:port shares: the zone
routing table (longest matching zone picks the server block), the memo of
replies, and the counting.  Listeners call ``lookup_memo`` first (the fast
path: a known query is answered by a dict lookup and an ID patch) and
``resolve`` otherwise (the chain).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

from clusterdns.dns.codes import rcode_label
from clusterdns.dns.hexdump import hexdump
from clusterdns.dns.reply import error_reply, reject_reply
from clusterdns.dns.wire import (
    BADVERS,
    CLASS_IN,
    REFUSED,
    SERVFAIL,
    Query,
    WireError,
    parse_query,
)
from clusterdns.plugins.plugin import UNGUARDED, Handler, Hit, Plugin, Reply, Request, Seen
from clusterdns.server.stats import CellKey, Stats, type_label

log = logging.getLogger("clusterdns.server")

MEMO_CAPACITY = 100_000
DROPPED_ZONE = "dropped"  # the zone label of a query no server block took (CoreDNS vars.Dropped)
TYPE_DS = 43
# Plugins whose presence on a listener lets queries of classes other than IN
# through (CoreDNS core/dnsserver/server.go EnableChaos); the rest are REFUSED.
ENABLE_CHAOS = frozenset(("chaos", "forward", "proxy"))


@dataclass
class Block:
    """One server block's runtime: its zone and the head of its chain."""

    zone: str
    handler: Handler
    memo_safe: bool
    #: log a handler's exception with its traceback (``errors { stacktrace }``)
    stacktrace: bool = False
    #: plugins that see every query and reply of the block (``Plugin.taps_queries``)
    taps: tuple[Plugin, ...] = ()
    #: the block has a plugin of ``ENABLE_CHAOS``: the listener serves every class
    any_class: bool = False
    #: the block's directives as written (``PlannedBlock.fingerprint``) when every plugin
    #: of its chain lets its replies outlive a reload; () when one does not
    lasting: tuple[str, ...] = ()


MemoEntry = tuple[bytes, list[float], float, CellKey, list[int], int]
"""(reply tail, stats cell, valid until, labels, guard cell, guard version)."""


class Memo:
    """Reply bytes (minus the ID) by query bytes (minus the ID), for one transport.

    A reply may be reused for identical query bytes as long as every plugin it
    passed through is deterministic: the question case, the EDNS size and the
    flags are all part of the key, so the stored bytes are exactly what the
    chain would produce again.  Entries carry an expiry for cached data whose
    TTLs count down, and the answering plugin's guard (``Reply.guard``): an
    entry is used only while ``guard_cell[0] == guard_version``, so a plugin
    retires the replies built on data that changed by bumping a cell, without
    the memo being searched or cleared.  When full, the oldest entry goes.
    """

    __slots__ = ("entries", "capacity")

    def __init__(self, capacity: int = MEMO_CAPACITY) -> None:
        self.entries: OrderedDict[bytes, MemoEntry] = OrderedDict()
        self.capacity = capacity

    def put(
        self,
        key: bytes,
        tail: bytes,
        cell: list[float],
        until: float,
        labels: CellKey,
        guard: tuple[list[int], int] = UNGUARDED,
    ) -> None:
        entries = self.entries
        if key not in entries and len(entries) >= self.capacity:
            entries.popitem(last=False)
        entries[key] = (tail, cell, until, labels, guard[0], guard[1])

    def clear(self) -> None:
        self.entries.clear()


class Arrival(NamedTuple):
    """A query's bytes, and where and when it came in: what every count of its reply needs."""

    data: bytes
    client: tuple[str, int]
    transport: str
    received: float


TapHit = Callable[[Hit, str, str], None]


def _hooks(plugins: tuple[Plugin, ...]) -> tuple[TapHit, ...]:
    """The memo-hit tap of each tapping plugin (``Plugin.tap_hit``)."""
    return tuple(p.tap_hit for p in plugins)


def _debug_packet(what: str, data: bytes) -> None:
    log.debug("[DEBUG] could not parse %s:\n%s", what, "\n".join(hexdump(data)))


class Dispatcher:
    """Routing, memo and stats for one address:port (UDP and TCP share it)."""

    def __init__(self, server_label: str, stats: Stats) -> None:
        self.server = server_label
        self.stats = stats
        self.blocks: dict[str, Block] = {}
        #: queries of a class other than IN are served (else REFUSED), see ``ENABLE_CHAOS``
        self.any_class = False
        self.udp_memo = Memo()
        self.tcp_memo = Memo()
        #: zone -> the taps of its block, for the memo path; empty when nothing taps,
        #: so a memo hit pays one truth test for the feature
        self.tapped: dict[str, tuple[TapHit, ...]] = {}

    def set_blocks(self, blocks: Iterable[Block]) -> None:
        """Swap in a new routing table (start and reload).

        The memo goes, unless every block is the one it replaces, written the same and
        with plugins whose replies outlive a reload (``Plugin.replies_outlive_reload``):
        then a reload that changed another listener, or nothing, costs no storm of
        first asks (queries waited 30 ms at 20 000 QPS while 1 000 names were rebuilt).
        """
        new = {block.zone: block for block in blocks}
        kept = new.keys() == self.blocks.keys() and all(
            block.lasting and block.lasting == self.blocks[zone].lasting
            for zone, block in new.items()
        )
        self.blocks = new
        self.any_class = any(block.any_class for block in self.blocks.values())
        self.tapped = {zone: _hooks(b.taps) for zone, b in self.blocks.items() if b.taps}
        if not kept:
            self.invalidate()

    def tap_memo(
        self,
        entry: MemoEntry,
        *,
        data: bytes,
        wire: bytes,
        client: tuple[str, int],
        transport: str,
        local: str,
        received: float,
        sent: float,
    ) -> None:
        """Show a memo hit to the taps of its block: the query, then the reply."""
        zone = entry[3].zone
        taps = self.tapped.get(zone)
        if not taps:
            return
        hit = (data, wire, client, transport, local, received, sent)
        try:
            for tap_hit in taps:
                tap_hit(hit, self.server, zone)
        except Exception:
            log.exception("a tap of %s failed", zone)

    def invalidate(self) -> None:
        self.udp_memo.clear()
        self.tcp_memo.clear()

    def route(self, name: str) -> Block | None:
        """The block of the longest zone that contains ``name``."""
        blocks = self.blocks
        while True:
            block = blocks.get(name)
            if block is not None:
                return block
            if name == ".":
                return None
            name = name.split(".", 1)[1] or "."

    def route_ds(self, name: str) -> Block | None:
        """The block for a DS query: the topmost zone other than the root that holds ``name``.

        A DS record lives in the parent of its zone, so CoreDNS keeps looking
        past the first zone that matches and takes the last one (the shortest)
        before the root; with none, the root zone's block.
        """
        blocks = self.blocks
        found = None
        while name != ".":
            found = blocks.get(name, found)
            name = name.split(".", 1)[1] or "."
        return found if found is not None else blocks.get(".")

    async def resolve(
        self,
        data: bytes,
        client: tuple[str, int],
        *,
        transport: str,
        received: float,
        local: str = "",
    ) -> bytes | None:
        """Answer one query that missed the memo; None means drop it."""
        arrival = Arrival(data, client, transport, received)
        try:
            query = parse_query(data)
        except WireError as exc:
            if log.isEnabledFor(logging.DEBUG):  # the *debug* plugin
                _debug_packet(f"query from {client[0]}:{client[1]} ({exc.reason})", data)
            if exc.rcode is None:
                self.stats.drop(self.server, exc.reason)
                return None
            question = exc.query.question if exc.query is not None else b""
            wire = reject_reply(data, exc.rcode, question)
            self._count(arrival, wire, exc.rcode, query=exc.query)
            return wire
        if query.qclass != CLASS_IN and not self.any_class:
            return self._error_answer(arrival, query, REFUSED)
        if query.edns and query.edns_version > 0:
            return self._error_answer(arrival, query, BADVERS)  # RFC 6891 6.1.3
        block = self.route(query.name) if query.qtype != TYPE_DS else self.route_ds(query.name)
        if block is None:
            return self._error_answer(arrival, query, REFUSED)
        request = Request(
            query=query,
            transport=transport,
            client=client,
            server=self.server,
            zone=block.zone,
            received=received,
            local=local,
        )
        seen = None
        if block.taps:
            seen = Seen(
                data=data,
                client=client,
                transport=transport,
                local=local,
                received=received,
                server=self.server,
                zone=block.zone,
            )
            for tap in block.taps:
                try:
                    tap.tap_query(seen)
                except Exception:
                    log.exception("tap %s failed", tap.name)
        try:
            reply = await block.handler(request)
        except Exception as exc:
            # CoreDNS core/dnsserver/server.go: one line, with the stack only when asked.
            log.error(
                '[ERROR] Recovered from panic in server: "%s" %s %s: %r',
                self.server,
                query.name,
                type_label(query.qtype),
                exc,
                exc_info=block.stacktrace,
            )
            self.stats.panics += 1
            reply = Reply.unanswered(SERVFAIL)
        wire = reply.wire if reply.wire is not None else error_reply(query, data, reply.rcode)
        labels = self._count(
            arrival, wire, reply.rcode, query=query, zone=block.zone, plugin=reply.plugin
        )
        if seen is not None:
            for tap in block.taps:
                try:
                    tap.tap_reply(seen, wire, reply.rcode)
                except Exception:
                    log.exception("tap %s failed", tap.name)
        if reply.memo_until > received and block.memo_safe and reply.wire is not None:
            memo = self.udp_memo if transport == "udp" else self.tcp_memo
            guard = reply.guard or UNGUARDED
            memo.put(
                key=data[2:],
                tail=wire[2:],
                cell=self.stats.cell(labels),
                until=reply.memo_until,
                labels=labels,
                guard=guard,
            )
        return wire

    def _error_answer(self, arrival: Arrival, query: Query, rcode: int) -> bytes:
        """The server's own answer ``rcode`` to a query no chain saw, counted."""
        wire = error_reply(query, arrival.data, rcode)
        self._count(arrival, wire, rcode, query=query)
        return wire

    def _count(
        self,
        arrival: Arrival,
        wire: bytes,
        rcode: int,
        *,
        query: Query | None,
        zone: str = "",
        plugin: str = "",
    ) -> CellKey:
        """Count one reply in the stats; no zone means no server block took the query."""
        qtype = query.qtype if query is not None else 0
        labels = CellKey(
            server=self.server,
            zone=zone or DROPPED_ZONE,
            proto=arrival.transport,
            family="2" if ":" in arrival.client[0] else "1",
            qtype=type_label(qtype),
            do=query.do if query is not None else False,
            rcode=rcode_label(rcode),
            plugin=plugin,
            request_size=len(arrival.data),
            response_size=len(wire),
            bucket=0,
        )
        self.stats.observe(labels, time.perf_counter() - arrival.received)
        return labels
