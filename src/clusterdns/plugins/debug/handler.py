"""The debug plugin: debug log lines on, and hex dumps of packets that could not be read (CoreDNS plugin/debug).

Process-wide, as in CoreDNS: one block with ``debug`` turns it on for every
block.  What it turns on here: the ``clusterdns`` loggers at DEBUG, so the
server logs a hex dump of every query it could not parse, *forward* one of
every malformed reply from an upstream, and plugins' ``[DEBUG]`` lines show.
CoreDNS's other effect, no recovery from a panic, is not copied: a Python
exception in a handler is still answered SERVFAIL and counted (the server
must go on serving), but its traceback is logged, as ``errors { stacktrace }``.
"""

from __future__ import annotations

import logging

from clusterdns.plugins.plugin import Plugin

LOGGER = logging.getLogger("clusterdns")

#: debug plugins that are serving; the level goes back when the last one stops
_active: list[Debug] = []
_saved_level: list[int] = []


class Debug(Plugin):
    name = "debug"
    replies_outlive_reload = True
    handles_queries = False

    async def start(self) -> None:
        if not _active:
            _saved_level[:] = [LOGGER.level]
            LOGGER.setLevel(logging.DEBUG)
        _active.append(self)

    async def stop(self) -> None:
        if self in _active:
            _active.remove(self)
            if not _active and _saved_level:
                LOGGER.setLevel(_saved_level.pop())


def enabled() -> bool:
    return LOGGER.isEnabledFor(logging.DEBUG)
