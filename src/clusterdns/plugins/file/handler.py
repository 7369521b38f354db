"""The file handler: authoritative answers from zone files, re-read when they change.

Answers are compiled to wire form the first time a (name, type) is asked and kept until the
zone is reloaded; the server memoizes the replies until then.  A reload that fails to parse
keeps the last good zone and logs the file and line.
"""

from __future__ import annotations

import logging
import os

import dns.name

from clusterdns.dns.reply import Answer, compile_answer, render
from clusterdns.dns.wire import REFUSED, SERVFAIL, TYPE_AXFR, TYPE_IXFR
from clusterdns.dns.zone import zone_of
from clusterdns.errors import ConfigError
from clusterdns.plugins.file.options import FileConfig
from clusterdns.plugins.file.zonedata import Result, ZoneData, ZoneError
from clusterdns.plugins.plugin import FOREVER, Handler, Invalidate, Plugin, Reply, Request
from clusterdns.tasks import Periodic, file_stamp

log = logging.getLogger("clusterdns.plugins.file")
MAX_COMPILED = 100_000  # bounds memory when clients ask random names


class File(Plugin):
    name = "file"

    def __init__(self, config: FileConfig, invalidate: Invalidate) -> None:
        self.config = config
        self.invalidate = invalidate
        self.zones: dict[str, ZoneData | None] = dict.fromkeys(config.zones)
        self.compiled: dict[tuple[str, int], tuple[Answer, Result]] = {}
        self._stamp: tuple[float, int] | None = None
        self._watch = Periodic(config.reload, self.reload, "plugin/file: reload")

    # -- loading -------------------------------------------------------------------------

    def load_at_start(self) -> None:
        """Read the file once; a zone error stops the server, a missing file only with reload 0."""
        try:
            text, stamp = self._read()
        except OSError as exc:
            if self.config.reload <= 0:
                self._fail(f"cannot read {self.config.path}: {exc.strerror}")
            log.warning(
                "[WARNING] plugin/file: Failed to open %s: trying again in %ss",
                self.config.path,
                self.config.reload,
            )
            return
        try:
            self.zones = self._parse(text)
        except ZoneError as exc:
            self._fail(str(exc))
        self._stamp = stamp

    def _fail(self, message: str) -> None:
        raise ConfigError(message, file=self.config.file, line=self.config.line, plugin="file")

    def _read(self) -> tuple[str, tuple[float, int]]:
        with open(self.config.path, encoding="utf-8", errors="replace") as handle:
            stat = os.fstat(handle.fileno())
            return handle.read(), (stat.st_mtime, stat.st_size)

    def _parse(self, text: str) -> dict[str, ZoneData | None]:
        return {
            zone: ZoneData.from_text(text, zone, self.config.path) for zone in self.config.zones
        }

    def reload(self) -> bool:
        """Re-read the file if it changed; swap zones whose serial changed (or, with
        ``reload_by_mtime``, every zone).  Returns True when something was swapped."""
        seen = file_stamp(self.config.path)
        if seen is None or seen == self._stamp:
            return False
        try:
            text, stamp = self._read()
            zones = self._parse(text)
        except OSError as exc:
            log.error("[ERROR] plugin/file: Failed to read %s: %s", self.config.path, exc.strerror)
            return False
        except ZoneError as exc:
            log.error(
                "[ERROR] plugin/file: Failed to reload zone, keeping the last good one: %s", exc
            )
            self._stamp = seen  # do not log it again until it changes
            return False
        self._stamp = stamp
        changed = False
        for zone, data in zones.items():
            old = self.zones.get(zone)
            same = old is not None and data is not None and old.serial == data.serial
            if same and not self.config.reload_by_mtime:
                continue
            self.zones[zone] = data
            changed = True
            serial = data.serial if data is not None else 0
            log.info(
                "[INFO] plugin/file: Successfully reloaded zone %r in %r with %d SOA serial",
                zone,
                self.config.path,
                serial,
            )
        if changed:
            self.compiled = {}
            self.invalidate()
        return changed

    async def start(self) -> None:
        self._watch.start()

    async def stop(self) -> None:
        await self._watch.stop()

    # -- answering -----------------------------------------------------------------------

    async def serve(self, request: Request, next: Handler) -> Reply:
        query = request.query
        zone = zone_of(query.name, self.zones)
        if zone is None:
            return await next(request)
        data = self.zones[zone]
        if data is None:
            return Reply.unanswered(SERVFAIL, self.name, f"zone {zone} is not loaded")
        if query.qtype in (TYPE_AXFR, TYPE_IXFR):
            return Reply.unanswered(REFUSED, self.name)  # no transfer plugin
        key = (query.name, query.qtype)
        compiled = self.compiled.get(key)
        if compiled is None:
            result = data.lookup(dns.name.from_text(query.name), query.qtype)
            answer = compile_answer(
                query.name,
                query.qtype,
                result.rcode,
                result.answer,
                result.authority,
                result.additional,
                aa=result.aa,
            )
            if len(self.compiled) >= MAX_COMPILED:
                self.compiled = {}
            compiled = self.compiled[key] = (answer, result)
        answer, result = compiled
        if result.missing and not result.answer and self._falls_through(query.name):
            return await next(request)
        return Reply(render(query, answer, request.udp), answer.rcode, self.name, FOREVER)

    def _falls_through(self, name: str) -> bool:
        zones = self.config.fallthrough
        if zones is None:
            return False
        return not zones or zone_of(name, zones) is not None
