"""Long work on the event loop, cut into slices that hand the loop back to queries.

A first list of 50 000 services, a relist's reconciliation and a manifest
reload are seconds of Python.  Run on the loop in one go they stall every
query; run in a thread they hold the GIL in long C calls (a decoder) just the
same.  So they run on the loop, and ask ``Slicer.due`` between small steps:
once ``budget`` seconds have passed since the loop last had a turn, ``pause``
lets it serve what has arrived, then the work goes on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

#: work done between two turns of the query loop (DESIGN.md: "a few milliseconds")
SLICE_SECONDS = 0.002


class Slicer:
    """``if slicer.due(): await slicer.pause()`` between steps of a long job."""

    def __init__(
        self, budget: float = SLICE_SECONDS, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self.budget = budget
        self.clock = clock
        self.pauses = 0
        self._deadline = clock() + budget

    def due(self) -> bool:
        return self.clock() >= self._deadline

    async def pause(self) -> None:
        """Let the loop run everything that is ready, then start a new slice."""
        await asyncio.sleep(0)
        self.pauses += 1
        self._deadline = self.clock() + self.budget


#: the one slicer of the process's long jobs: several reflectors listing at once (and a
#: manifest reload) share one budget per turn of the loop, instead of each taking its own
SHARED = Slicer()
