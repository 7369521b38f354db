"""``top``'s windows from /metrics: the increase of the counters between two scrapes."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable

from clusterdns.errors import ClusterDNSError
from clusterdns.top import metrics
from clusterdns.top.report import Report

SCRAPE_TIMEOUT = 5.0


def _get(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=SCRAPE_TIMEOUT) as response:
            return str(response.read().decode("utf-8", "replace"))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ClusterDNSError(
            f"cannot read {url}: {reason}; give the address of the server's prometheus plugin "
            "(e.g. http://127.0.0.1:9153/metrics)"
        ) from None


async def scrape(url: str) -> metrics.Snapshot:
    return metrics.parse(await asyncio.to_thread(_get, url))


async def metrics_windows(
    url: str, interval: float, started: Callable[[], None] = lambda: None
) -> AsyncIterator[Report]:
    """A report per ``interval``: the counters' increase between consecutive scrapes."""
    before, at = await scrape(url), time.monotonic()
    started()
    while True:
        await asyncio.sleep(max(0.0, at + interval - time.monotonic()))
        after, now = await scrape(url), time.monotonic()
        yield metrics.report(before, after, now - at, url)
        before, at = after, now
