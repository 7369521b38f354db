"""The hosts handler: answers from a compiled table, re-read when the file changes."""

from __future__ import annotations

import logging

from clusterdns.dns.reply import render
from clusterdns.dns.wire import SERVFAIL, TYPE_A, TYPE_AAAA, TYPE_PTR
from clusterdns.dns.zone import MISSING, RecordTable
from clusterdns.plugins.hosts.hostsfile import parse_hosts, records
from clusterdns.plugins.hosts.options import HostsConfig
from clusterdns.plugins.plugin import FOREVER, Handler, Invalidate, Plugin, Reply, Request
from clusterdns.tasks import Periodic, file_stamp

log = logging.getLogger("clusterdns.plugins.hosts")
REVERSE_ZONES = ("in-addr.arpa.", "ip6.arpa.")


class Hosts(Plugin):
    name = "hosts"

    def __init__(self, config: HostsConfig, invalidate: Invalidate) -> None:
        self.config = config
        self.invalidate = invalidate
        self.table = RecordTable(config.zones + REVERSE_ZONES)
        self._stamp: tuple[float, int] | None = None
        self._watch = Periodic(config.reload, self.reload, "plugin/hosts: reload")
        self.load()

    def load(self) -> None:
        """(Re)build the table from the file and the inline entries."""
        text = ""
        try:
            self._stamp = file_stamp(self.config.path) or self._stamp
            with open(self.config.path, encoding="utf-8", errors="replace") as handle:
                text = handle.read()
        except OSError as exc:
            log.warning(
                "[WARNING] plugin/hosts: cannot read %s: %s", self.config.path, exc.strerror
            )
        entries = list(self.config.inline) + parse_hosts(text)
        table = RecordTable(self.config.zones + REVERSE_ZONES)
        for owner, rows in records(
            entries, self.config.zones, self.config.ttl, self.config.reverse
        ).items():
            table.replace(owner, rows)
        self.table = table
        self.invalidate()

    def reload(self) -> bool:
        """Re-read the file when its mtime or size changed (or it appeared or went away)."""
        if file_stamp(self.config.path) == self._stamp:
            return False
        self.load()
        return True

    async def start(self) -> None:
        self._watch.start()

    async def stop(self) -> None:
        await self._watch.stop()

    async def serve(self, request: Request, next: Handler) -> Reply:
        query = request.query
        result = self.table.lookup(query.name, query.qtype)
        if result is None or (query.qtype == TYPE_PTR and result.status == MISSING):
            return await next(request)
        fall = self.config.fall
        if (
            self.config.fallthrough_unsupported
            and query.qtype not in (TYPE_A, TYPE_AAAA, TYPE_PTR)
            and fall.through(query.name)
        ):
            return await next(request)
        if result.status == MISSING:
            if fall.through(query.name):
                return await next(request)
            # CoreDNS: no SOA to put in an NXDOMAIN, so it says SERVFAIL.
            return Reply.unanswered(SERVFAIL, self.name)
        answer = result.answer
        return Reply(render(query, answer, request.udp), answer.rcode, self.name, FOREVER)
