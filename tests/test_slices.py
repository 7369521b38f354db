"""The shared slicer: one budget per turn of the loop, however many jobs wake in it."""

from __future__ import annotations

import asyncio
import socket

import pytest

from clusterdns.slices import Slicer


class Clock:
    """Time moves only when a job does a step of work: one unit per step."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def _turns(counter: list[int], stop: asyncio.Event) -> None:
    """Counts the loop's turns: the queries' chance to be served."""
    while not stop.is_set():
        counter[0] += 1
        await asyncio.sleep(0)


async def _job(
    name: str, steps: int, slicer: Slicer, clock: Clock, log: list[tuple[int, str]], turn: list[int]
) -> None:
    for _ in range(steps):
        clock.now += 1.0  # one unit of work
        log.append((turn[0], name))
        if slicer.due():
            await slicer.pause()


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_jobs_that_wake_in_one_turn_share_its_budget(jobs: int) -> None:
    """Three reflectors relisting at once must not hold the loop three budgets per turn."""
    budget = 4

    async def run() -> list[tuple[int, str]]:
        clock = Clock()
        slicer = Slicer(budget=float(budget), clock=clock)
        turn, stop, log = [0], asyncio.Event(), []
        counter = asyncio.ensure_future(_turns(turn, stop))
        await asyncio.gather(*(_job(f"job{i}", 40, slicer, clock, log, turn) for i in range(jobs)))
        stop.set()
        await counter
        return log

    log = asyncio.run(run())
    assert len(log) == 40 * jobs  # every job finished
    steps_in_turn: dict[int, int] = {}
    for turn, _ in log:
        steps_in_turn[turn] = steps_in_turn.get(turn, 0) + 1
    first, *later = sorted(steps_in_turn)
    # in the first turn each job takes one step before it can see the budget is spent
    assert steps_in_turn[first] <= budget + jobs - 1
    assert max(steps_in_turn[turn] for turn in later) <= budget
    assert len(later) >= 40 * jobs // budget - 1  # the loop had its turns between


def _queued_datagram() -> tuple[socket.socket, socket.socket]:
    """A UDP socket on loopback with one datagram waiting in it, and its sender."""
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.sendto(b"query", server.getsockname())
    return server, sender


def test_a_job_steps_only_once_the_queued_queries_are_read() -> None:
    """Queries first: while a watched socket has a datagram waiting, no turn opens a budget."""
    server, sender = _queued_datagram()

    async def scenario() -> list[str]:
        events: list[str] = []
        slicer = Slicer(budget=0.0, max_wait=3600.0)
        slicer.watch(server)

        async def job() -> None:
            await slicer.pause()
            events.append("step")

        async def reader() -> None:
            for _ in range(5):
                await asyncio.sleep(0)
            events.append(f"read {server.recv(512)!r}")

        await asyncio.wait_for(asyncio.gather(job(), reader()), 10)
        assert slicer.yielded >= 5
        return events

    try:
        assert asyncio.run(scenario()) == ["read b'query'", "step"]
    finally:
        server.close()
        sender.close()


def test_queries_that_are_never_read_delay_a_job_by_max_wait_only() -> None:
    """Under more load than the server serves, the work still gets a slice now and then."""
    server, sender = _queued_datagram()

    async def scenario() -> int:
        slicer = Slicer(budget=0.0, max_wait=0.01)
        slicer.watch(server)
        for _ in range(3):
            await asyncio.wait_for(slicer.pause(), 10)
        slicer.unwatch(server)
        await slicer.pause()  # nothing watched: the next turn opens
        return slicer.yielded

    try:
        assert asyncio.run(scenario()) >= 3
    finally:
        server.close()
        sender.close()
