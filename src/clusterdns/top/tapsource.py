"""``top``'s windows from dnstap: it listens on a socket the server's dnstap plugin sends to.

Needs the [dnstap] extra (protobuf); ``clusterdns top`` imports this module only with --dnstap.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

from clusterdns.dnstap.framestream import Data
from clusterdns.dnstap.message import MessageError, parse
from clusterdns.errors import ClusterDNSError
from clusterdns.tap.stream import Collector
from clusterdns.top.report import Report
from clusterdns.top.taps import TapWindow


async def tap_windows(
    address: str,
    interval: float,
    zones: tuple[str, ...],
    started: Callable[[], None] = lambda: None,
) -> AsyncIterator[Report]:
    """A report per ``interval`` of the dnstap messages the server sends to ``address``."""
    windows = [TapWindow(zones)]

    def sink(frame: Data) -> None:
        # a payload that is not dnstap is skipped: `clusterdns tap` reports those
        with contextlib.suppress(MessageError):
            windows[0].add(parse(frame.payload))

    collector = Collector(address, sink)
    try:
        await collector.start()
    except OSError as exc:
        raise ClusterDNSError(f"cannot listen on {address}: {exc.strerror}") from None
    try:
        started()
        at = time.monotonic()
        while True:
            await asyncio.sleep(max(0.0, at + interval - time.monotonic()))
            done, windows[0] = windows[0], windows[0].next()
            now = time.monotonic()
            yield done.report(now - at, address)
            at = now
    finally:
        await collector.close()
