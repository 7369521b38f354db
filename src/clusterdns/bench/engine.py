"""The load generator: one process per worker, each running its plan over UDP, TCP or, in
``--resolver`` mode, as an application's libc looks names up.

The loop that paces, times out and drains is ``pacing.drive``; ``udp`` and ``tcp`` carry
the queries; ``stub`` is ``--resolver`` mode.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.sharedctypes
import time

from clusterdns.bench.pacing import FOREVER_NS, Flight, Link, LinkDown, Tally, drive
from clusterdns.bench.plan import LoadPlan, ProgressFn
from clusterdns.bench.stats import RunStats
from clusterdns.bench.stub import run_stub
from clusterdns.bench.tcp import TcpLink
from clusterdns.bench.udp import UdpLink


def run_plan(plan: LoadPlan, progress: ProgressFn | None = None) -> RunStats:
    """Run one worker's load in this process."""
    if plan.stub is not None:
        return run_stub(plan, progress)
    if plan.tcp:
        return run_tcp(plan, progress)
    return run_udp(plan, progress)


def run_udp(plan: LoadPlan, progress: ProgressFn | None = None) -> RunStats:
    return _run(plan, UdpLink, "udp", progress)


def run_tcp(plan: LoadPlan, progress: ProgressFn | None = None) -> RunStats:
    """Queries pipelined over a few TCP connections (RFC 7766 section 6.2.1.1 allows it)."""
    return _run(plan, TcpLink, "tcp", progress)


def _run(
    plan: LoadPlan,
    link_type: type[UdpLink] | type[TcpLink],
    mode: str,
    progress: ProgressFn | None,
) -> RunStats:
    stats = RunStats(mode=mode, interval_ns=int(plan.interval * 1e9))
    tally = Tally(stats, int(plan.limit_ms * 1e6) if plan.limit_ms > 0 else FOREVER_NS)
    flight = Flight()
    link: Link = link_type(plan, flight, tally)
    try:
        return drive(plan, link, flight, progress)
    except LinkDown as down:
        raise down.error from None


def run_workers(plan: LoadPlan, workers: int, progress: ProgressFn | None = None) -> RunStats:
    """Spread the plan over ``workers`` processes and merge their statistics exactly."""
    if workers <= 1:
        return run_plan(plan, progress)
    ctx = multiprocessing.get_context("fork")
    board = ctx.Array("q", 2 * workers, lock=False)
    results: multiprocessing.queues.Queue[tuple[int, RunStats]] = ctx.Queue()
    # A common start a little ahead lets every worker's timeline line up.
    start = time.perf_counter_ns() + 200_000_000
    processes = [
        ctx.Process(
            target=_worker_main,
            args=(_with_start(plan.share(i, workers), start), i, board, results),
            daemon=True,
        )
        for i in range(workers)
    ]
    for process in processes:
        process.start()
    parts: dict[int, RunStats] = {}
    try:
        while len(parts) < workers:
            with contextlib.suppress(Exception):
                index, stats = results.get(timeout=plan.interval)
                parts[index] = stats
            if progress is not None:
                progress(sum(board[0::2]), sum(board[1::2]))
            if (
                len(parts) < workers
                and not any(p.is_alive() for p in processes)
                and results.empty()
            ):
                break
    finally:
        for process in processes:
            process.join(timeout=plan.timeout + 5)
    return RunStats.merged([parts[i] for i in sorted(parts)])


def _with_start(plan: LoadPlan, start_ns: int) -> LoadPlan:
    return LoadPlan(
        **{name: getattr(plan, name) for name in LoadPlan.__slots__} | {"start_ns": start_ns}
    )


def _worker_main(
    plan: LoadPlan,
    index: int,
    board: multiprocessing.sharedctypes.SynchronizedArray[int],
    results: multiprocessing.queues.Queue[tuple[int, RunStats]],
) -> None:
    def report(sent: int, done: int) -> None:
        board[2 * index] = sent
        board[2 * index + 1] = done

    stats = run_plan(plan, report)
    results.put((index, stats))
