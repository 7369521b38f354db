"""The kubernetes handler: cluster state -> records -> compiled answers, served per query.

State arrives from a source (manifests on disk, watched).  Each new state is
turned into a ``RecordSet`` off the event loop and compared with the previous
one; only owners whose records changed are replaced in the ``RecordTable``, so
only their compiled answers are rebuilt.  Queries never wait on a rebuild:
they see the old table until the swap of the changed owners, which is done
on the loop between two queries.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Mapping, Sequence

import dns.rdatatype
import dns.rrset

from clusterdns.cluster.manifests import ManifestWatcher, Problem
from clusterdns.cluster.model import ClusterState
from clusterdns.dns.reply import Answer, compile_answer, render
from clusterdns.dns.wire import NOERROR, SERVFAIL
from clusterdns.dns.zone import MISSING, Record, RecordTable
from clusterdns.plugins.kubernetes.options import KubernetesOptions
from clusterdns.plugins.kubernetes.records import (
    RecordSet,
    apex_records,
    build_records,
    pod_record,
)
from clusterdns.plugins.plugin import FOREVER, Handler, Invalidate, Plugin, Reply, Request

log = logging.getLogger("clusterdns.plugins.kubernetes")

Changes = dict[str, list[Record] | None]


def all_records(
    state: ClusterState, opts: KubernetesOptions, serial: int, local_ips: Sequence[str] = ()
) -> RecordSet:
    """Every owner of every zone: the services, the reverse names and the apex records.

    ``local_ips`` are the addresses the server is bound to: as in CoreDNS, the
    zone's NS is the service those addresses are endpoints of, or ``ns.dns.<zone>``.
    """
    records = build_records(state, opts)
    for zone in opts.zones:
        for owner, rows in apex_records(zone, opts, state, local_ips, serial).items():
            records.setdefault(owner, []).extend(rows)
    return records


def changed_owners(old: Mapping[str, list[Record]], new: Mapping[str, list[Record]]) -> Changes:
    """Owners whose records differ between two record sets (None: the owner is gone)."""
    changes: Changes = {o: rows for o, rows in new.items() if old.get(o) != rows}
    changes.update({o: None for o in old if o not in new})
    return changes


class Kubernetes(Plugin):
    name = "kubernetes"

    def __init__(
        self, opts: KubernetesOptions, invalidate: Invalidate, local_ips: Sequence[str] = ()
    ) -> None:
        self.opts = opts
        self.local_ips = tuple(local_ips)
        self.invalidate = invalidate
        self.table = RecordTable(opts.zones)
        self.state: ClusterState | None = None
        self.records: RecordSet = {}
        self.watcher = (
            ManifestWatcher(opts.manifests, self._ignore, interval=opts.poll_interval)
            if opts.manifests
            else None
        )
        self._task: asyncio.Task[None] | None = None

    @staticmethod
    def _ignore(state: ClusterState, problems: list[Problem]) -> None:
        """The watcher's callback is unused: ``_follow`` takes each state itself."""

    # -- state ---------------------------------------------------------------

    def build(self, state: ClusterState) -> tuple[RecordSet, Changes, RecordTable | None]:
        """Off the loop: the new record set and what changed against the one being served.

        The first time, the whole table is built here too (a fresh table, not
        yet served), so a large cluster does not stall the loop at start-up.
        """
        records = all_records(state, self.opts, int(time.time()), self.local_ips)
        changes = changed_owners(self.records, records)
        if self.state is not None:
            return records, changes, None
        table = RecordTable(self.opts.zones)
        table.replace_many(changes)
        return records, {}, table

    def apply(
        self,
        state: ClusterState,
        records: RecordSet,
        changes: Changes,
        table: RecordTable | None = None,
    ) -> None:
        """On the loop: swap in the changed owners, then drop the server's memoized replies."""
        if table is not None:
            self.table = table
        self.table.replace_many(changes)
        self.records = records
        self.state = state
        self.invalidate()
        log.debug("applied %d changed names", len(changes))

    def load(self, state: ClusterState) -> None:
        """Apply a state synchronously (start-up, tests and benchmarks)."""
        self.apply(state, *self.build(state))

    async def start(self) -> None:
        if self.watcher is None:
            return
        await self._poll_once()
        self._task = asyncio.ensure_future(self._follow())

    async def _poll_once(self) -> None:
        assert self.watcher is not None
        watcher = self.watcher
        # Loading builds millions of long-lived objects; the cycle collector
        # would rescan them over and over (more than half the load time).
        gc.disable()
        try:
            found = await asyncio.to_thread(watcher._check)
            if found is None:
                return
            state, problems = found
            for problem in problems:
                log.warning("plugin/kubernetes: %s", problem)
            watcher.state, watcher.problems = state, problems
            built = await asyncio.to_thread(self.build, state)
        finally:
            gc.enable()
        self.apply(state, *built)
        gc.freeze()  # the served state is long-lived: keep it out of later collections

    async def _follow(self) -> None:
        assert self.watcher is not None
        while True:
            await asyncio.sleep(self.watcher.interval)
            try:
                await self._poll_once()
            except Exception:  # a bug while reading must not end the watch
                log.exception("plugin/kubernetes: reading %s failed", self.opts.manifests)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def ready(self) -> bool:
        return self.state is not None

    # -- queries -------------------------------------------------------------

    async def serve(self, request: Request, next: Handler) -> Reply:
        query = request.query
        if self.state is None:
            # CoreDNS answers SERVFAIL until its cache has synced: an NXDOMAIN
            # now would be cached by clients for a name that exists.
            return Reply.unanswered(SERVFAIL, self.name, "cluster state not loaded yet")
        result = self.table.lookup(query.name, query.qtype)
        if result is None:
            return await next(request)
        answer = result.answer
        if result.status == MISSING:
            pod = self._pod_answer(query.name, query.qtype)
            if pod is not None:
                answer = pod
            elif self.opts.falls_through(query.name):
                return await next(request)
        return Reply(render(query, answer, request.udp), answer.rcode, self.name, FOREVER)

    def _pod_answer(self, name: str, qtype: int) -> Answer | None:
        """``1-2-3-4.<ns>.pod.<zone>``: made per query, as there is one for every address."""
        if self.state is None:
            return None
        records = pod_record(name, self.state, self.opts)
        if records is None:
            return None
        rrsets = [
            dns.rrset.from_text(name, r.ttl, "IN", r.rdtype, r.rdata)
            for r in records
            if dns.rdatatype.from_text(r.rdtype) == qtype
        ]
        if rrsets:
            return compile_answer(name, qtype, NOERROR, rrsets)
        return self.table.negative(name, NOERROR)
