"""The conntrack-race relay's LossyRelay on its own event loop in a thread, so a blocking client can use it."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from clusterdns.conntrackrace.relay import LossyRelay


@contextlib.contextmanager
def relay_in_thread(upstream: tuple[str, int], window: float) -> Iterator[LossyRelay]:
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def serve() -> None:
        holder["stop"] = asyncio.Event()
        async with LossyRelay(upstream, window=window) as relay:
            holder["relay"] = relay
            ready.set()
            await holder["stop"].wait()

    def run() -> None:
        loop = asyncio.new_event_loop()
        holder["loop"] = loop
        try:
            loop.run_until_complete(serve())
        finally:
            ready.set()
            loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(10)
    if "relay" not in holder:
        pytest.fail("the lossy relay did not start")
    try:
        yield holder["relay"]
    finally:
        holder["loop"].call_soon_threadsafe(holder["stop"].set)
        thread.join(10)
