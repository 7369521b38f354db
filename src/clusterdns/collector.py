"""The process's cyclic garbage collector: one policy for every long-lived build.

A first list of 50 000 services is millions of small objects, and so is every
relist, reload and changed manifest file after it.  While such state is being
built the collector finds nothing to free, yet each young-generation pass
walks every new container, and a new container may be a dict of 50 000
entries: passes of 3-7 ms, and 50-60 ms for the middle generation, taken in
the middle of a slice that promised the query loop 2 ms (slices.py).  So
collection is off while anything is ``building()``, and once nothing is,
everything alive is frozen (``gc.freeze``: moved to a generation that
collections never scan) and collection resumes with a first-generation
threshold raised so the query path, which makes few container objects, rarely
triggers one.

Builds overlap (three reflectors list at once, a reload while the first start
is still syncing), so ``building()`` is counted; only the last one to finish
freezes and enables.  What is built must not hold reference cycles: a frozen
cycle is never collected, so state that is dropped later has to be freed by
reference counting (the slim objects and the zone's records are plain values).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

#: collections of the youngest generation after this many net allocations (CPython: 700)
THRESHOLD0 = 10_000


class CollectorPolicy:
    def __init__(self) -> None:
        self._building = 0

    @contextlib.contextmanager
    def building(self) -> Iterator[None]:
        """Collection off for the block; on leaving the last one, freeze and collect again."""
        if self._building == 0:
            gc.disable()
        self._building += 1
        try:
            yield
        finally:
            self._building -= 1
            if self._building == 0:
                gc.freeze()
                _, threshold1, threshold2 = gc.get_threshold()
                gc.set_threshold(THRESHOLD0, threshold1, threshold2)
                gc.enable()


#: one per process: every server in it (tests run several) and every source share it
COLLECTOR = CollectorPolicy()
