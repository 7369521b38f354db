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

from clusterdns.dns.names import in_zones
from clusterdns.dns.reply import fit_udp, reply_flags, reply_opt
from clusterdns.dns.wire import (
    AA,
    AD,
    CD,
    HEADER,
    NOERROR,
    NXDOMAIN,
    RA,
    SERVFAIL,
    TC,
    Query,
    WireError,
    parse_query,
)
from clusterdns.plugins.cache import metrics
from clusterdns.plugins.cache.options import MIN_TTL, CacheConfig
from clusterdns.plugins.cache.ttls import Scan, Stored, scan, to_stored, with_ttl
from clusterdns.plugins.cache.typify import Type, answers_question, cache_type, cacheable
from clusterdns.plugins.plugin import DetachedHost, Handler, Host, Plugin, Reply, Request

log = logging.getLogger("clusterdns.plugins.cache")

SUCCESS, DENIAL = "success", "denial"
MAX_REFRESHES = 256  # background prefetches in flight, all keys together

Key = tuple[str, int, int, bool, bool]


class Entry:
    """One cached reply: the stored sections, header bits, and when it was stored."""

    __slots__ = (
        "stored",
        "flags",
        "kind",
        "nodata",
        "at",
        "orig_ttl",
        "hits",
        "last",
        "answering",
        "last_known_good",
        "refreshing",
        "retry_after",
    )

    def __init__(
        self,
        stored: Stored,
        flags: int,
        kind: str,
        nodata: bool,
        at: float,
        ttl: int,
        answering: bool = False,
    ) -> None:
        self.stored = stored
        self.flags = flags & (RA | AD | 0xF)
        self.kind = kind
        self.nodata = nodata
        self.at = at
        self.orig_ttl = ttl
        self.hits = 0  # CoreDNS's freq: hits seen within the prefetch duration
        self.last = at
        self.answering = answering  # the reply answers its question (serve_stale_policy)
        #: prefer_positive: the answering entry a non-answer replaced
        self.last_known_good: Entry | None = None
        self.refreshing = False  # a stale refresh is in flight
        self.retry_after = 0.0  # serve_stale FAILURE_RECHECK: no refresh before this

    @property
    def rcode(self) -> int:
        return self.flags & 0xF

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

    def begin_refresh(self, now: float, recheck: float) -> bool:
        """Single flight per entry; after a failed refresh none before ``retry_after``."""
        if self.refreshing or (recheck > 0 and now < self.retry_after):
            return False
        self.refreshing = True
        return True

    def end_refresh(self, now: float, recheck: float, refreshed: bool) -> None:
        self.retry_after = now + recheck if recheck > 0 and not refreshed else 0.0
        self.refreshing = False


class Store:
    """A bounded map; when full the oldest insertion goes (counted as an eviction)."""

    __slots__ = ("entries", "capacity")

    def __init__(self, capacity: int) -> None:
        self.entries: dict[Key, Entry] = {}
        self.capacity = max(capacity, 1)

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


#: CoreDNS's response types -> the cache that holds them (None: never stored)
_STORE_OF = {
    Type.NOERROR: SUCCESS,
    Type.DELEGATION: SUCCESS,
    Type.NXDOMAIN: DENIAL,
    Type.NODATA: DENIAL,
    Type.SERVERERROR: DENIAL,
}


class Cache(Plugin):
    name = "cache"
    replies_outlive_reload = True

    def __init__(
        self,
        config: CacheConfig,
        host: Host | None = None,
        block_zones: tuple[str, ...] = (".",),
        clock: Callable[[], float] = time.perf_counter,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.clock = clock
        self.wall = wall  # RRSIG validity periods are read against the wall clock
        self.success = Store(config.success_capacity)
        self.denial = Store(config.denial_capacity)
        self.refreshing: dict[Key, asyncio.Task[None]] = {}
        self.verifying: set[asyncio.Task[Reply | None]] = set()
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
            return await self._serve_stale(request, next, key, entry, now)
        if entry.nodata:
            metrics.count("nodata_hits", request.server, self)  # never memoized: see metrics.py
        memo_until = 0.0
        if self._should_prefetch(entry, now):
            self._prefetch(request, next, key, entry, stale=False)
        elif not entry.nodata:
            memo_until = self._memo_until(entry, now)
        if self.config.keepttl:
            ttl = entry.orig_ttl
        return Reply(self._render(request, entry, ttl), entry.rcode, self.name, memo_until)

    def _usable(self, entry: Entry | None, now: float) -> bool:
        """Fresh, or expired for less than the serve_stale window."""
        if entry is None:
            return False
        ttl = entry.ttl(now)
        window = self.config.stale_up_to
        return ttl > 0 or (window > 0 and -ttl < int(window))

    def _lookup(self, key: Key, now: float) -> Entry | None:
        """CoreDNS's getIfNotStale: denial first, then success, stale ones within serve_stale.

        A cached SERVFAIL does not shadow a usable positive answer; with
        ``serve_stale_policy prefer_positive`` an answering positive entry (or
        the last one a non-answer replaced) comes first.
        """
        positive = self.success.entries.get(key)
        if self.config.prefer_positive and self.config.stale_up_to > 0 and positive is not None:
            good = positive if positive.answering else positive.last_known_good
            if good is not None and good.answering and self._usable(good, now):
                return good
        negative = self.denial.entries.get(key)
        if self._usable(negative, now):
            assert negative is not None
            if negative.rcode == SERVFAIL and self._usable(positive, now):
                return positive
            return negative
        return positive if self._usable(positive, now) else None

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

    async def _serve_stale(
        self, request: Request, next: Handler, key: Key, entry: Entry, now: float
    ) -> Reply:
        """RFC 8767: answer from an expired entry; ``verify`` asks upstream first.

        The stale reply carries RESPONSE_TTL (default 0).  With FAILURE_RECHECK
        a failed refresh is not tried again for that long.
        """
        config = self.config
        if config.verify_stale:
            recheck = config.stale_recheck
            if recheck <= 0 or entry.begin_refresh(now, recheck):
                fresh = await self._verify(request, next, key, entry, recheck)
                if fresh is not None:
                    return fresh
        else:
            self._prefetch(request, next, key, entry, stale=True)
        metrics.count("served_stale", request.server, self)
        # RESPONSE_TTL when set; else 0, or (keepttl) the TTL as stored, as CoreDNS does.
        ttl = config.stale_ttl or (entry.orig_ttl if config.keepttl else 0)
        return Reply(self._render(request, entry, ttl), entry.rcode, self.name, 0.0)

    async def _verify(
        self, request: Request, next: Handler, key: Key, entry: Entry, recheck: float
    ) -> Reply | None:
        """Ask upstream; the fresh reply when it refreshes the entry (RFC 8767 4), else None.

        With a VERIFY_TIMEOUT the upstream gets that long; past it the stale
        entry is served and the refresh goes on in the background, storing
        what it gets.
        """
        task = asyncio.ensure_future(self._verified(request, next, key, entry, recheck))
        timeout = self.config.verify_timeout
        if timeout <= 0:
            return await task
        self.verifying.add(task)
        task.add_done_callback(self.verifying.discard)
        try:
            return await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            return None

    async def _verified(
        self, request: Request, next: Handler, key: Key, entry: Entry, recheck: float
    ) -> Reply | None:
        refreshed = False
        try:
            reply = await next(_authenticated(request))
            if reply.wire is None:
                return None
            # A bounded verify stores as a background refresh does (CoreDNS's prefetch writer).
            background = self.config.verify_timeout > 0
            wire, stored = self._store(request, key, reply.wire, True, background)
            if wire is None:
                return None
            refreshed = True
            if self.config.verify_timeout > 0 and stored is not None:
                wire = self._render(request, stored, stored.ttl(self.clock()))
            return Reply(wire, reply.rcode, self.name, 0.0)
        finally:
            if recheck > 0:
                entry.end_refresh(self.clock(), recheck, refreshed)

    async def _refresh(self, request: Request, next: Handler, key: Key) -> Reply:
        reply = await next(_authenticated(request))
        if reply.wire is None:
            return reply
        wire, _ = self._store(request, key, reply.wire)
        if wire is None:
            return reply
        return Reply(wire, reply.rcode, reply.plugin, 0.0, reply.error)

    # -- storing -----------------------------------------------------------

    def _store(
        self, request: Request, key: Key, wire: bytes, refresh: bool = False, prefetch: bool = False
    ) -> tuple[bytes | None, Entry | None]:
        """Cache ``wire`` when CoreDNS would; return it as the client gets it, and the entry.

        The wire is None when the reply cannot be read at all (it is passed on
        untouched) or, with ``refresh`` (a stale refresh), when it does not
        refresh stale data (RFC 8767 4: only NOERROR and NXDOMAIN do; with
        ``prefer_positive`` only a positive answer, the rest is stored quietly).
        """
        query = request.query
        try:
            found = scan(wire)
        except WireError:
            metrics.count("drops", request.server, self)
            return None, None
        kind = cache_type(found, int(self.wall()))
        if refresh and not self._refreshes(found, query, kind):
            if self.config.prefer_positive and self._matches(found, query):
                self._keep(request, key, found, wire, kind, prefetch=True)
            return None, None
        entry = self._keep(request, key, found, wire, kind, prefetch)
        duration = self._duration(found, kind)
        return self._capped(wire, found, duration, query.do or bool(query.flags & AD)), entry

    def _refreshes(self, found: Scan, query: Query, kind: Type) -> bool:
        """CoreDNS's verifyStaleResponseWriter: which fresh replies replace stale data."""
        if found.flags & TC or not self._matches(found, query):
            return False
        if self.config.prefer_positive:
            return kind is Type.NOERROR and answers_question(found)
        if kind in (Type.OTHERERROR, Type.META, Type.UPDATE):
            return False
        return found.rcode in (NOERROR, NXDOMAIN)

    @staticmethod
    def _matches(found: Scan, query: Query) -> bool:
        """CoreDNS's request.Match: a response to this question (name, type, class)."""
        return found.response and found.question == (query.name, query.qtype, query.qclass)

    def _keep(
        self, request: Request, key: Key, found: Scan, wire: bytes, kind: Type, prefetch: bool
    ) -> Entry | None:
        """Store the reply in its cache when CoreDNS would; the new entry or None."""
        query = request.query
        store_kind = _STORE_OF.get(kind)
        duration = self._duration(found, kind)
        if store_kind is None or duration <= 0 or not cacheable(found, kind):
            return None
        if not self._matches(found, query):
            metrics.count("drops", request.server, self)  # a reply to another question
            return None
        if not self._allowed(store_kind, query.name):
            return None
        stored = to_stored(wire, found, duration)
        if stored is None:
            metrics.count("drops", request.server, self)
            return None
        answering = answers_question(found)
        nodata = kind is Type.NODATA
        entry = Entry(stored, found.flags, store_kind, nodata, self.clock(), duration, answering)
        if store_kind == SUCCESS:
            previous = self.success.entries.get(key)
            if self.config.prefer_positive and not answering and previous is not None:
                entry.last_known_good = previous if previous.answering else previous.last_known_good
            if self.success.add(key, entry):
                metrics.count("evictions_success", request.server, self)
            # CoreDNS drops the denial only on a background refresh, or (prefer_positive)
            # when the new entry really answers.
            if answering if self.config.prefer_positive else prefetch:
                self.denial.entries.pop(key, None)
        elif self.denial.add(key, entry):
            metrics.count("evictions_denial", request.server, self)
        return entry

    def _duration(self, found: Scan, kind: Type) -> int:
        """CoreDNS's TTL rules: lowest TTL of the reply, within [MINTTL, TTL] of its kind.

        Only NOERROR, NXDOMAIN and NODATA replies are read for a TTL; any other
        (a delegation, an error), or one without records, counts as 5 s
        (dnsutil.MinimalTTLWithMaximum).  SERVFAIL and NOTIMP get ``servfail``.
        """
        config = self.config
        if kind is Type.SERVERERROR:
            return int(config.servfail_ttl)
        if kind in (Type.NXDOMAIN, Type.NODATA):
            low, high = config.denial_min_ttl, config.denial_ttl
        else:
            low, high = config.success_min_ttl, config.success_ttl
        lowest = MIN_TTL
        if kind in (Type.NOERROR, Type.NXDOMAIN, Type.NODATA) and found.min_ttl is not None:
            lowest = min(found.min_ttl, high)
        return min(max(lowest, low), high)

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
        opt = reply_opt(query)
        flags = reply_flags(query, flags)
        header = HEADER.pack(
            query.id,
            flags,
            1,
            stored.ancount,
            stored.nscount,
            stored.arcount + bool(opt),
        )
        body = with_ttl(stored, max(ttl, 0))
        wire = header + query.question + body + opt
        if request.udp and len(wire) > query.max_udp_payload():
            counts = (stored.ancount, stored.nscount, stored.arcount)
            return fit_udp(query, flags, counts, body, opt)
        return wire

    # -- prefetch ----------------------------------------------------------

    def _prefetch(
        self, request: Request, next: Handler, key: Key, entry: Entry, stale: bool
    ) -> None:
        """Refresh ``key`` in the background, at most once at a time per key (single flight)."""
        if key in self.refreshing or len(self.refreshing) >= MAX_REFRESHES:
            return
        recheck = self.config.stale_recheck if stale else 0.0
        if not entry.begin_refresh(self.clock(), recheck):
            return
        task = asyncio.ensure_future(self._do_prefetch(request, next, key, entry, stale))
        self.refreshing[key] = task
        task.add_done_callback(lambda _: self.refreshing.pop(key, None))

    async def _do_prefetch(
        self, request: Request, next: Handler, key: Key, entry: Entry, stale: bool
    ) -> None:
        metrics.count("prefetch", request.server, self)
        # Over TCP, as CoreDNS does, so the upstream's reply is never truncated.
        background = _authenticated(
            request.with_query(request.query, transport="tcp", received=self.clock())
        )
        recheck = self.config.stale_recheck if stale else 0.0
        refreshed = False
        try:
            reply = await next(background)
            if reply.wire is not None:
                wire, _ = self._store(background, key, reply.wire, refresh=stale, prefetch=True)
                refreshed = wire is not None
        except Exception:
            log.exception("plugin/cache: prefetch of %s failed", request.query.name)
        finally:
            entry.end_refresh(self.clock(), recheck, refreshed)
        if not refreshed:
            return
        fresh = self.denial.entries.get(key) or self.success.entries.get(key)
        if fresh is not None and fresh is not entry:
            fresh.hits, fresh.last = entry.hits, self.clock()

    async def stop(self) -> None:
        for task in [*self.refreshing.values(), *self.verifying]:
            task.cancel()
        metrics.unregister(self)


def _authenticated(request: Request) -> Request:
    """The request as sent on: with AD set, so the answer's authentication can be shared.

    CoreDNS's cache does not key on AD, so it asks upstream with AD set and
    decides per client whether the AD of the cached answer is shown.
    """
    query = request.query
    if query.flags & AD:
        return request
    data = query.data
    asked = parse_query(data[:3] + bytes((data[3] | AD,)) + data[4:])
    return request.with_query(asked)
