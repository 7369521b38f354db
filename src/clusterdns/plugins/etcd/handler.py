"""The etcd handler: a watch keeps the SkyDNS zone current, queries read the zone.

CoreDNS's etcd plugin asks etcd on every query.  Here ``cluster/etcd.py``
lists the path once and then follows a watch; each changed key is parsed
(``msg.parse``) and put in the ``SkyDNSZone``, which retires just the answers
that key fed.  Queries never wait on etcd.  Until the first list has arrived,
names in our zones answer SERVFAIL and ``ready`` says no; once listed, losing
etcd changes nothing clients see: the last records are served while the
source reconnects.  A value that is not a SkyDNS message is skipped with a
warning naming its key.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from clusterdns.cluster.etcd import Change, EtcdSource
from clusterdns.dns.wire import SERVFAIL
from clusterdns.dns.zone import zone_of
from clusterdns.plugins.authoritative import serve_from
from clusterdns.plugins.etcd.msg import BadValue, parse
from clusterdns.plugins.etcd.options import EtcdOptions
from clusterdns.plugins.etcd.zone import SkyDNSZone
from clusterdns.plugins.plugin import Handler, Plugin, Reply, Request

log = logging.getLogger("clusterdns.plugins.etcd")

#: how long ``start`` waits for the first list before serving anyway (CoreDNS etcdTimeout)
STARTUP_WAIT = 5.0


class Etcd(Plugin):
    name = "etcd"

    def __init__(self, opts: EtcdOptions, startup_wait: float | None = None) -> None:
        self.opts = opts
        self.startup_wait = startup_wait
        self.zone = SkyDNSZone(opts.zones, opts.path, serial=int(time.time()))
        self.source: EtcdSource | None = None
        self._synced = asyncio.Event()

    # -- the sink the source delivers to -----------------------------------------

    def apply(self, changes: Sequence[Change]) -> None:
        for key, value in changes:
            service = None
            if value is not None and self.zone.owner_of(key) is not None:
                try:
                    service = parse(key, value)
                except BadValue as exc:
                    log.warning("plugin/etcd: skipping key %s: %s", key, exc)
            self.zone.put(key, service)

    def held(self) -> set[str]:
        return self.zone.keys()

    def synced(self) -> None:
        if not self._synced.is_set():
            self._synced.set()
            log.info("plugin/etcd: synced: %d records under %s", len(self.zone), self.opts.path)

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        self.source = EtcdSource(self.opts.source, self)
        self.source.start()
        try:
            wait = STARTUP_WAIT if self.startup_wait is None else self.startup_wait
            await asyncio.wait_for(self._synced.wait(), wait)
        except TimeoutError:
            log.warning("plugin/etcd: starting without records: etcd not listed yet")

    async def stop(self) -> None:
        if self.source is not None:
            await self.source.stop()

    def ready(self) -> bool:
        return self._synced.is_set()

    # -- queries -----------------------------------------------------------------

    async def serve(self, request: Request, next: Handler) -> Reply:
        query = request.query
        if zone_of(query.name, self.opts.zones) is None:
            return await next(request)
        if not self._synced.is_set():
            return Reply.unanswered(SERVFAIL, self.name, "etcd not listed yet")
        return await serve_from(self.zone, request, next, self.name, self.opts.falls_through)
