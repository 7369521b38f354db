"""Long work on the event loop, cut into slices that hand the loop back to queries.

A first list of 50 000 services, a relist's reconciliation and a manifest
reload are seconds of Python.  Run on the loop in one go they stall every
query; run in a thread they hold the GIL in long C calls (a decoder) just the
same.  So they run on the loop, and ask ``Slicer.due`` between small steps:
once a turn's ``budget`` is spent, ``pause`` lets the loop serve what has
arrived, then the work goes on.

The budget is per turn of the loop, not per job: several jobs (the reflectors
of services, EndpointSlices and namespaces listing at once, a manifest reload)
that all wake in the same turn share it.  Without that, each woke with a fresh
budget and a turn lasted as many budgets as there were jobs.
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
        self._turn_marked = False
        self._claimed = True

    def due(self) -> bool:
        return self.clock() >= self._deadline

    async def pause(self) -> None:
        """Wait for a turn of the loop whose budget is not spent, then go on."""
        self.pauses += 1
        while True:
            self._mark_next_turn()
            await asyncio.sleep(0)
            # the first job to wake in a turn always gets a step, the others what is left
            if not self._claimed or not self.due():
                self._claimed = True
                return

    def _mark_next_turn(self) -> None:
        # A callback queued now runs first in the next turn, before any job that
        # pauses after it: it opens that turn's budget, the first job to wake spends
        # it, and the others wait for a later turn (after the loop has polled).
        if not self._turn_marked:
            self._turn_marked = True
            asyncio.get_running_loop().call_soon(self._open_turn)

    def _open_turn(self) -> None:
        self._turn_marked = False
        self._claimed = False
        self._deadline = self.clock() + self.budget


#: the one slicer of the process's long jobs: several reflectors listing at once (and a
#: manifest reload) share one budget per turn of the loop, instead of each taking its own
SHARED = Slicer()
