"""Background tasks that stop cleanly: the one place that cancels a task and waits for its end.

Every layer may import this module (it imports nothing of ours): plugins, the
cluster sources, the node cache.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import Any

log = logging.getLogger("clusterdns.tasks")


async def cancel_and_wait(task: asyncio.Future[Any] | None) -> None:
    """Cancel ``task`` (None: nothing to do) and wait until it has ended.

    The task's own ``CancelledError`` is swallowed; a cancellation of the caller
    while it waits is not (``Task.cancelling``, Python 3.11), so a stop that is
    itself cancelled still ends.
    """
    if task is None:
        return
    task.cancel()
    await _ended(task)


async def finish(task: asyncio.Future[Any] | None, timeout: float) -> None:
    """Give ``task`` up to ``timeout`` seconds to end on its own, then cancel it and wait."""
    if task is None:
        return
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout)
    except TimeoutError:
        await cancel_and_wait(task)
    except asyncio.CancelledError:
        _reraise_if_caller_cancelled()


async def _ended(task: asyncio.Future[Any]) -> None:
    try:
        await task
    except asyncio.CancelledError:
        _reraise_if_caller_cancelled()


def _reraise_if_caller_cancelled() -> None:
    current = asyncio.current_task()
    if current is not None and current.cancelling():
        raise asyncio.CancelledError


def file_stamp(path: str) -> tuple[float, int] | None:
    """What a polling watch compares to see a file change: (mtime, size); None when missing."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_mtime, stat.st_size


class Periodic:
    """Call ``step`` every ``interval`` seconds in a background task, from ``start`` to ``stop``.

    An ``interval`` of zero or less never starts (``reload 0`` turns a watch off).
    A step that raises is logged and the loop goes on: a bug in one pass must
    not end the watch (the file's and hosts' reload, for example).
    """

    def __init__(self, interval: float, step: Callable[[], object], name: str = "") -> None:
        self.interval = interval
        self.step = step
        self.name = name or getattr(step, "__qualname__", "periodic step")
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is None and self.interval > 0:
            self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                self.step()
            except Exception:
                log.exception("%s failed", self.name)
