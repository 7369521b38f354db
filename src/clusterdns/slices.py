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

Queries come first.  A turn reads only so many datagrams (libuv, under
uvloop: 32 per socket; asyncio's own loop: one), so a turn that is 2 ms of
work plus one read serves about 13 000 queries a second: above that, queries
queue in the socket while the work goes on, and wait there for hundreds of
milliseconds (a 4 MB receive buffer holds thousands).  So a turn opens a
budget only when the server's UDP sockets have nothing waiting (``watch``:
the size of the next datagram, ``FIONREAD``), or when the work has waited
``MAX_WAIT``: under more load than the server can serve, the work still gets
a slice now and then.
"""

from __future__ import annotations

import asyncio
import fcntl
import socket
import struct
import termios
import time
from collections.abc import Callable

#: work done between two turns of the query loop (DESIGN.md: "a few milliseconds")
SLICE_SECONDS = 0.002
#: the longest the work waits for queued queries before it takes a slice anyway
MAX_WAIT = 0.02

_INT = struct.Struct("i")


class Slicer:
    """``if slicer.due(): await slicer.pause()`` between steps of a long job."""

    def __init__(
        self,
        budget: float = SLICE_SECONDS,
        clock: Callable[[], float] = time.perf_counter,
        max_wait: float = MAX_WAIT,
    ) -> None:
        self.budget = budget
        self.clock = clock
        self.max_wait = max_wait
        self.pauses = 0
        #: turns no job stepped in because queries were waiting
        self.yielded = 0
        now = clock()
        self._deadline = now + budget
        self._turn_marked = False
        self._claimed = True
        #: when a turn last opened a budget
        self._opened = now
        self._watched: dict[int, socket.socket] = {}

    def watch(self, sock: socket.socket) -> None:
        """Serve the queries waiting on this (UDP) socket before any further step."""
        self._watched[sock.fileno()] = sock

    def unwatch(self, sock: socket.socket) -> None:
        """Forget ``sock``; call before closing it (its descriptor may be reused)."""
        self._watched = {fd: s for fd, s in self._watched.items() if s is not sock}

    def queries_waiting(self) -> bool:
        """Whether a watched socket has a datagram queued (FIONREAD: the next one's size)."""
        for fd in self._watched:
            try:
                size = _INT.unpack(fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
            except OSError:
                continue
            if size:
                return True
        return False

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
        now = self.clock()
        if now - self._opened < self.max_wait and self.queries_waiting():
            # no step this turn: the loop reads the queued queries first
            self.yielded += 1
            self._claimed = True
            self._deadline = now
            self._mark_next_turn()
            return
        self._claimed = False
        self._opened = now
        self._deadline = now + self.budget


#: the one slicer of the process's long jobs: several reflectors listing at once (and a
#: manifest reload) share one budget per turn of the loop, instead of each taking its own
SHARED = Slicer()
