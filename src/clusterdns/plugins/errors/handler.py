"""The errors handler: logs the error a plugin returned with its rcode, or consolidates it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from clusterdns.dns.codes import type_text
from clusterdns.plugins.errors.consolidate import SECOND, Consolidator, Summary
from clusterdns.plugins.errors.options import ErrorsConfig
from clusterdns.plugins.plugin import Handler, Plugin, Reply, Request

log = logging.getLogger("clusterdns.plugins.errors")

# CoreDNS's clog level prefixes; the message then starts with "plugin/errors: ".
PREFIX = {
    "error": (logging.ERROR, "[ERROR] plugin/errors: "),
    "warning": (logging.WARNING, "[WARNING] plugin/errors: "),
    "info": (logging.INFO, "[INFO] plugin/errors: "),
    "debug": (logging.DEBUG, "[DEBUG] plugin/errors: "),
}


def error_line(rcode: int, name: str, qtype: int, error: str) -> str:
    """``2 example.org. A: <error>``: CoreDNS's ``"%d %s %s: %s"`` of rcode, name, type, error."""
    return f"{rcode} {name} {type_text(qtype)}: {error}"


def emit(level: str, message: str) -> None:
    number, prefix = PREFIX[level]
    log.log(number, prefix + message)


class Errors(Plugin):
    name = "errors"
    replies_outlive_reload = True

    def __init__(
        self,
        config: ErrorsConfig,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.patterns = config.patterns
        self.clock = clock
        self.consolidator = Consolidator(config.patterns)
        self._timers: dict[int, asyncio.TimerHandle] = {}

    async def serve(self, request: Request, next: Handler) -> Reply:
        reply = await next(request)
        if reply.error is not None:
            self.report(request, reply)
        return reply

    def report(self, request: Request, reply: Reply) -> None:
        error = reply.error or ""
        index, show = self.consolidator.record(error, self.clock())
        if index is not None and index not in self._timers:
            self._schedule(index)
        if show:
            level = "error" if index is None else self.patterns[index].level
            emit(level, error_line(reply.rcode, request.name, request.qtype, error))

    def _schedule(self, index: int) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (direct use): the window closes at stop()
        delay = self.patterns[index].period / SECOND
        self._timers[index] = loop.call_later(delay, self._window_closed, index)

    def _window_closed(self, index: int) -> None:
        # The timer is the window's end, as CoreDNS's time.AfterFunc: close it whatever the clock reads.
        self._timers.pop(index, None)
        summary = self.consolidator.close(index)
        self._log([summary] if summary is not None else [])

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._log(self.consolidator.close_all())

    @staticmethod
    def _log(summaries: list[Summary]) -> None:
        for summary in summaries:
            emit(summary.level, summary.message)
