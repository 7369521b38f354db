"""The cache handler: wire-form entries keyed as CoreDNS keys them, TTLs patched on every hit.

Hits are counted by the server, not here: every reply this plugin writes is
labelled ``plugin="cache"`` in the server's per-query cells, including the
ones the server answers from its memo without running the chain (a hit may be
memoized until its TTL would next change).  ``metrics.py`` reads those cells
at scrape time; the chain only counts what the memo never sees (misses,
NODATA hits, stale serves, prefetches).
"""

from __future__ import annotations

import asyncio
import logging
import math
import struct
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from clusterdns.dns.names import in_zones
from clusterdns.dns.reply import opt_record, reply_flags, truncated
from clusterdns.dns.wire import (
    AA,
    AD,
    CD,
    NOERROR,
    NOTIMP,
    NXDOMAIN,
    OPCODE_MASK,
    RA,
    SERVFAIL,
    TC,
    TYPE_AXFR,
    TYPE_IXFR,
    WireError,
)
from clusterdns.plugins.cache import metrics
from clusterdns.plugins.cache.ttls import Scan, Stored, scan, to_stored, with_ttl
from clusterdns.plugins.plugin import DetachedHost, Handler, Host, Plugin, Reply, Request

if TYPE_CHECKING:
    from clusterdns.plugins.cache.setup import CacheConfig

log = logging.getLogger("clusterdns.plugins.cache")

SUCCESS, DENIAL = "success", "denial"
MAX_REFRESHES = 256  # background prefetches in flight, all keys together
_HEADER = struct.Struct(">HHHHHH")

Key = tuple[str, int, int, bool, bool]


class Entry:
    """One cached reply: the stored sections, header bits, and when it was stored."""

    __slots__ = ("stored", "flags", "kind", "nodata", "at", "orig_ttl", "hits", "last")

    def __init__(
        self, stored: Stored, flags: int, kind: str, nodata: bool, at: float, ttl: int
    ) -> None:
        self.stored = stored
        self.flags = flags & (RA | AD | 0xF)
        self.kind = kind
        self.nodata = nodata
        self.at = at
        self.orig_ttl = ttl
        self.hits = 0  # CoreDNS's freq: hits seen within the prefetch duration
        self.last = at

    def ttl(self, now: float) -> int:
        """CoreDNS: the original TTL minus whole seconds elapsed (negative once stale)."""
        return self.orig_ttl - int(now - self.at)

    def seen(self, window: float, now: float) -> int:
        if self.last < now - window:
            self.hits = 1
        else:
            self.hits += 1
        self.last = now
        return self.hits


class Store:
    """A bounded map; when full the oldest insertion goes (counted as an eviction)."""

    __slots__ = ("entries", "capacity")

    def __init__(self, capacity: int) -> None:
        self.entries: dict[Key, Entry] = {}
        self.capacity = capacity

    def add(self, key: Key, entry: Entry) -> bool:
        """Store; True when another entry had to go to make room."""
        entries = self.entries
        evicted = False
        if key in entries:
            del entries[key]
        elif len(entries) >= self.capacity:
            del entries[next(iter(entries))]
            evicted = True
        entries[key] = entry
        return evicted

    def __len__(self) -> int:
        return len(self.entries)


def response_type(found: Scan, qtype: int) -> str | None:
    """CoreDNS's response.Typify, reduced to what the cache does with it: success, denial or None."""
    rcode = found.rcode
    if qtype in (TYPE_AXFR, TYPE_IXFR) or found.flags & OPCODE_MASK:
        return None
    if found.ancount:
        return SUCCESS if rcode == NOERROR else None
    if rcode == NOERROR:
        return DENIAL if found.soa_in_authority else SUCCESS  # NODATA, else delegation/no-error
    if rcode == NXDOMAIN:
        return DENIAL if found.soa_in_authority else None  # no SOA: no negative TTL to use
    if rcode in (SERVFAIL, NOTIMP):
        return DENIAL
    return None


class Cache(Plugin):
    name = "cache"

    def __init__(
        self,
        config: CacheConfig,
        host: Host | None = None,
        block_zones: tuple[str, ...] = (".",),
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.config = config
        self.clock = clock
        self.success = Store(config.success_capacity)
        self.denial = Store(config.denial_capacity)
        self.refreshing: dict[Key, asyncio.Task[None]] = {}
        self.host: Host = host or DetachedHost()
        self.block_zones = block_zones
        self.servers: set[str] = set()
        metrics.register(self)

    # -- serving -----------------------------------------------------------

    async def serve(self, request: Request, next: Handler) -> Reply:
        query = request.query
        if not in_zones(query.name, self.config.zones):
            return await next(request)
        self.servers.add(request.server)
        key: Key = (query.name, query.qtype, query.qclass, query.do, bool(query.flags & CD))
        now = self.clock()
        entry = self._lookup(key, now)
        if entry is None:
            metrics.count("misses", request.server, self)
            return await self._refresh(request, next, key)
        ttl = entry.ttl(now)
        if ttl <= 0:
            return await self._serve_stale(request, next, key, entry)
        if entry.nodata:
            metrics.count("nodata_hits", request.server, self)  # never memoized: see metrics.py
        memo_until = 0.0
        if self._should_prefetch(entry, now):
            self._prefetch(request, next, key, entry, stale=False)
        elif not entry.nodata:
            memo_until = self._memo_until(entry, now)
        if self.config.keepttl:
            ttl = entry.orig_ttl
        return Reply(self._render(request, entry, ttl), entry.flags & 0xF, self.name, memo_until)

    def _lookup(self, key: Key, now: float) -> Entry | None:
        """Denial first, then success (CoreDNS's order); stale entries within serve_stale count."""
        window = self.config.stale_up_to
        for store in (self.denial, self.success):
            entry = store.entries.get(key)
            if entry is not None:
                ttl = entry.ttl(now)
                if ttl > 0 or (window > 0 and -ttl < int(window)):
                    return entry
        return None

    def _memo_until(self, entry: Entry, now: float) -> float:
        """Until the reply's TTLs would next change: the next whole second since it was stored."""
        if self.config.keepttl:
            return entry.at + entry.orig_ttl
        return entry.at + math.floor(now - entry.at) + 1

    def _should_prefetch(self, entry: Entry, now: float) -> bool:
        config = self.config
        if config.prefetch <= 0:
            return False
        hits = entry.seen(config.prefetch_duration, now)
        threshold = math.ceil(config.prefetch_percentage / 100 * entry.orig_ttl)
        return hits >= config.prefetch and entry.ttl(now) <= threshold

    async def _serve_stale(self, request: Request, next: Handler, key: Key, entry: Entry) -> Reply:
        """RFC 8767: answer with TTL 0 from an expired entry; verify mode asks upstream first."""
        if self.config.verify_stale:
            reply = await next(request)
            if reply.wire is not None and reply.rcode in (NOERROR, NXDOMAIN):
                fresh = self._store(request, key, reply.wire)
                if fresh is not None:
                    return Reply(fresh, reply.rcode, self.name, 0.0)
        else:
            self._prefetch(request, next, key, entry, stale=True)
        metrics.count("served_stale", request.server, self)
        return Reply(self._render(request, entry, 0), entry.flags & 0xF, self.name, 0.0)

    async def _refresh(self, request: Request, next: Handler, key: Key) -> Reply:
        reply = await next(request)
        if reply.wire is None:
            return reply
        wire = self._store(request, key, reply.wire)
        if wire is None:
            return reply
        return Reply(wire, reply.rcode, reply.plugin, 0.0, reply.error)

    # -- storing -----------------------------------------------------------

    def _store(self, request: Request, key: Key, wire: bytes) -> bytes | None:
        """Cache ``wire`` when CoreDNS would; return it with its TTLs capped as stored.

        None when the reply cannot be read at all (it is passed on untouched).
        """
        query = request.query
        try:
            found = scan(wire)
        except WireError:
            metrics.count("drops", request.server, self)
            return None
        kind = response_type(found, query.qtype)
        duration = self._duration(found, kind)
        if (
            kind is not None
            and not found.flags & TC
            and duration > 0
            and self._allowed(kind, query.name)
        ):
            stored = to_stored(wire, found, duration)
            if stored is None:
                metrics.count("drops", request.server, self)
            else:
                nodata = kind == DENIAL and found.rcode == NOERROR
                entry = Entry(stored, found.flags, kind, nodata, self.clock(), duration)
                store = self.success if kind == SUCCESS else self.denial
                if store.add(key, entry):
                    metrics.count(f"evictions_{kind}", request.server, self)
                if kind == SUCCESS:
                    self.denial.entries.pop(key, None)
        return self._capped(wire, found, duration, query.do or bool(query.flags & AD))

    def _duration(self, found: Scan, kind: str | None) -> int:
        """CoreDNS's TTL rules: lowest TTL of the reply, within [MINTTL, TTL] of its kind."""
        config = self.config
        if kind == DENIAL and found.rcode in (SERVFAIL, NOTIMP):
            return int(config.servfail_ttl)
        if kind == DENIAL:
            low, high = config.denial_min_ttl, config.denial_ttl
        else:
            low, high = config.success_min_ttl, config.success_ttl
        lowest = found.min_ttl if found.min_ttl is not None and kind is not None else 5
        return min(max(min(lowest, high), low), high)

    def _allowed(self, kind: str, name: str) -> bool:
        excluded = self.config.success_except if kind == SUCCESS else self.config.denial_except
        return not in_zones(name, excluded)

    @staticmethod
    def _capped(wire: bytes, found: Scan, ttl: int, keep_ad: bool) -> bytes:
        """The reply as the client gets it on a miss: every TTL set to the cached duration."""
        out = bytearray(wire)
        packed = struct.pack(">I", ttl)
        for at in found.ttl_offsets:
            out[at : at + 4] = packed
        if not keep_ad:
            out[3] &= ~AD & 0xFF  # no DNSSEC asked for: the data cannot be authenticated to it
        return bytes(out)

    # -- rendering ---------------------------------------------------------

    def _render(self, request: Request, entry: Entry, ttl: int) -> bytes:
        query = request.query
        flags = AA | (entry.flags & (RA | 0xF))
        if entry.flags & AD and (query.do or query.flags & AD):
            flags |= AD  # RFC 6840 5.7-5.8: keep AD only for a client that asked
        stored = entry.stored
        header = _HEADER.pack(
            query.id,
            reply_flags(query, flags),
            1,
            stored.ancount,
            stored.nscount,
            stored.arcount + query.edns,
        )
        body = with_ttl(stored, max(ttl, 0))
        wire = header + query.question + body + (opt_record(query.do) if query.edns else b"")
        if request.udp and len(wire) > query.max_udp_payload():
            return truncated(query, flags)
        return wire

    # -- prefetch ----------------------------------------------------------

    def _prefetch(
        self, request: Request, next: Handler, key: Key, entry: Entry, stale: bool
    ) -> None:
        """Refresh ``key`` in the background, at most once at a time per key (single flight)."""
        if key in self.refreshing or len(self.refreshing) >= MAX_REFRESHES:
            return
        task = asyncio.ensure_future(self._do_prefetch(request, next, key, entry, stale))
        self.refreshing[key] = task
        task.add_done_callback(lambda _: self.refreshing.pop(key, None))

    async def _do_prefetch(
        self, request: Request, next: Handler, key: Key, entry: Entry, stale: bool
    ) -> None:
        metrics.count("prefetch", request.server, self)
        # Over TCP, as CoreDNS does, so the upstream's reply is never truncated.
        background = Request(
            request.query, "tcp", request.client, request.server, request.zone, self.clock()
        )
        try:
            reply = await next(background)
        except Exception:
            log.exception("plugin/cache: prefetch of %s failed", request.query.name)
            return
        if reply.wire is None:
            return
        if stale and reply.rcode not in (NOERROR, NXDOMAIN):
            return  # RFC 8767 4: only a real answer replaces stale data
        self._store(background, key, reply.wire)
        fresh = self.denial.entries.get(key) or self.success.entries.get(key)
        if fresh is not None and fresh is not entry:
            fresh.hits, fresh.last = entry.hits, self.clock()

    async def stop(self) -> None:
        for task in list(self.refreshing.values()):
            task.cancel()
        metrics.unregister(self)
