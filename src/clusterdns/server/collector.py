"""The process's cyclic garbage collector: one policy, owned by the server.

Plugins build their long-lived state while they start (the kubernetes
plugin's first list of 50 000 services is millions of small objects); the
collector would scan those over and over as they pile up, for nothing: they
are alive.  So collection is off while any configuration is starting, and
once none is, everything alive is frozen (``gc.freeze``: moved to a
generation that collections never scan) and collection resumes with a
first-generation threshold raised so the query path, which makes few
container objects, rarely triggers one.

Starts may overlap (a reload while the first start is still syncing), so
``starting()`` is counted; only the last one to finish freezes and enables.
No plugin touches ``gc``; one that stops must break its own reference cycles
(a frozen cycle is never collected).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

#: collections of the youngest generation after this many net allocations (CPython: 700)
THRESHOLD0 = 10_000


class CollectorPolicy:
    def __init__(self) -> None:
        self._starting = 0

    @contextlib.contextmanager
    def starting(self) -> Iterator[None]:
        """Collection off for the block; on leaving the last one, freeze and collect again."""
        if self._starting == 0:
            gc.disable()
        self._starting += 1
        try:
            yield
        finally:
            self._starting -= 1
            if self._starting == 0:
                gc.freeze()
                _, threshold1, threshold2 = gc.get_threshold()
                gc.set_threshold(THRESHOLD0, threshold1, threshold2)
                gc.enable()


#: one per process: every server in it (tests run several) shares the collector
COLLECTOR = CollectorPolicy()
