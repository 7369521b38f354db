"""A dnstap collector for tests: ``clusterdns.tap.stream.Collector`` on its own loop in a thread."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from clusterdns.dnstap.framestream import Data
from clusterdns.dnstap.message import Record, parse


class ThreadCollector:
    def __init__(self, address: str) -> None:
        from clusterdns.tap.stream import Collector

        self.records: list[Record] = []
        self.problems: list[str] = []
        self.lock = threading.Lock()
        self.collector = Collector(address, self._sink, self.problems.append)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def _sink(self, frame: Data) -> None:
        with self.lock:
            self.records.append(parse(frame.payload))

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def start(self) -> ThreadCollector:
        self.thread.start()
        self._call(self.collector.start())
        return self

    @property
    def port(self) -> int:
        return self.collector.port

    def connections(self) -> int:
        return len(self.collector.connections)

    def stop(self) -> None:
        try:
            self._call(self.collector.close())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()

    def of(self, kind: str) -> list[Record]:
        with self.lock:
            return [r for r in self.records if r.type == kind]

    def __enter__(self) -> ThreadCollector:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
