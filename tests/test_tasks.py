"""clusterdns.tasks: background tasks that stop cleanly."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from clusterdns.tasks import Periodic, cancel_and_wait, file_stamp, finish

DEADLINE = 5.0


async def _forever(started: asyncio.Event) -> None:
    started.set()
    await asyncio.Event().wait()


async def _started_task() -> asyncio.Task[None]:
    started = asyncio.Event()
    task = asyncio.ensure_future(_forever(started))
    await asyncio.wait_for(started.wait(), DEADLINE)
    return task


def test_cancel_and_wait_ends_the_task_and_swallows_its_cancellation() -> None:
    async def main() -> asyncio.Task[None]:
        task = await _started_task()
        await cancel_and_wait(task)
        return task

    task = asyncio.run(main())
    assert task.cancelled()


def test_cancel_and_wait_of_none_or_a_finished_task_does_nothing() -> None:
    async def main() -> str:
        await cancel_and_wait(None)
        done = asyncio.ensure_future(asyncio.sleep(0, "result"))
        await done
        await cancel_and_wait(done)
        return str(done.result())

    assert asyncio.run(main()) == "result"


def test_a_stop_that_is_itself_cancelled_is_not_swallowed() -> None:
    """The caller's own cancellation must reach it, even while it waits for the task."""

    async def stubborn(started: asyncio.Event, release: asyncio.Event) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            await release.wait()  # ends only when the test says so

    async def main() -> bool:
        started, release = asyncio.Event(), asyncio.Event()
        task = asyncio.ensure_future(stubborn(started, release))
        await asyncio.wait_for(started.wait(), DEADLINE)
        stopper = asyncio.ensure_future(cancel_and_wait(task))
        await asyncio.sleep(0)
        stopper.cancel()
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await stopper
        return task.done()

    assert asyncio.run(main())


@pytest.mark.parametrize("ends_by_itself", [True, False])
def test_finish_waits_for_the_task_then_cancels_it(ends_by_itself: bool) -> None:
    async def main() -> asyncio.Task[None]:
        stop = asyncio.Event()

        async def worker() -> None:
            if ends_by_itself:
                await stop.wait()
            else:
                await asyncio.Event().wait()

        task = asyncio.ensure_future(worker())
        stop.set()
        await finish(task, 0.05)
        return task

    task = asyncio.run(main())
    assert task.done()
    assert task.cancelled() is (not ends_by_itself)


def test_periodic_steps_until_stopped_and_survives_a_failing_step() -> None:
    async def main() -> tuple[int, bool]:
        calls = 0
        enough = asyncio.Event()

        def step() -> None:
            nonlocal calls
            calls += 1
            if calls >= 3:
                enough.set()
            if calls == 1:
                raise RuntimeError("a bug in one pass")

        periodic = Periodic(0.001, step)
        periodic.start()
        await asyncio.wait_for(enough.wait(), DEADLINE)
        await periodic.stop()
        return calls, periodic.running

    calls, running = asyncio.run(main())
    assert calls >= 3
    assert not running


def test_periodic_with_a_zero_interval_never_starts() -> None:
    """``reload 0`` turns the file and hosts watches off (CoreDNS: a zero duration disables)."""

    async def main() -> bool:
        periodic = Periodic(0, lambda: None)
        periodic.start()
        running = periodic.running
        await periodic.stop()
        return running

    assert asyncio.run(main()) is False


def test_file_stamp_sees_a_change_of_size_and_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    assert file_stamp(str(path)) is None
    path.write_text("127.0.0.1 a\n")
    first = file_stamp(str(path))
    path.write_text("127.0.0.1 a\n10.0.0.1 b\n")
    assert first is not None
    assert file_stamp(str(path)) != first
