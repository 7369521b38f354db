"""apply_list and remove_unseen: a list applied in slices that let other tasks run between."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

from clusterdns.cluster.listing import Change, apply_list, forget, remove_unseen
from clusterdns.cluster.model import Namespace
from clusterdns.cluster.objects import ObjectKey
from clusterdns.sharded import ShardedSet
from clusterdns.slices import Slicer


class Recorder:
    """A sink that writes every apply into ``events``, and holds what it was given."""

    def __init__(self, events: list[str], held: set[ObjectKey] | None = None) -> None:
        self.events = events
        self._held = set(held or ())

    def apply(self, changes: Sequence[Change], *, live: bool) -> None:
        for key, obj in changes:
            self.events.append(f"apply {key[2]}")
            if obj is None:
                self._held.discard(key)
            else:
                self._held.add(key)

    def held(self, kind: str) -> set[ObjectKey]:
        return set(self._held)


def _project(item: Any) -> Change:
    name = item["metadata"]["name"]
    return ("Namespace", "", name), Namespace(name)


def _namespaces(names: Sequence[str]) -> bytes:
    items = [{"metadata": {"name": n}} for n in names]
    return json.dumps({"metadata": {"resourceVersion": "9"}, "items": items}).encode()


async def _chunks(data: bytes, size: int = 50) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


class Ticks:
    """A clock that moves one step per reading: every slice is spent after ``budget`` steps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def test_a_query_waiting_on_the_loop_is_served_between_slices() -> None:
    """While a long list is applied, a task that is ready runs before the list is done:
    the list hands the loop back (DESIGN.md, "runs in slices that yield to the query loop")."""

    async def scenario() -> list[str]:
        events: list[str] = []
        sink = Recorder(events)
        slicer = Slicer(budget=5.0, clock=Ticks())
        names = [f"ns{i}" for i in range(200)]

        async def query() -> None:
            for n in range(3):
                events.append(f"query {n}")
                await asyncio.sleep(0)

        listing = asyncio.ensure_future(
            apply_list(_chunks(_namespaces(names)), _project, sink, set(), slicer)
        )
        await asyncio.sleep(0)  # the list starts first
        await asyncio.gather(listing, query())
        events.append("synced")
        return events

    events = asyncio.run(scenario())
    first_apply = events.index("apply ns0")
    last_apply = events.index("apply ns199")
    answered = [i for i, e in enumerate(events) if e.startswith("query")]
    assert len(answered) == 3
    assert all(first_apply < i < last_apply for i in answered)


def test_relist_removes_what_the_list_lacked() -> None:
    """client-go's reflector replaces the store with the list: what it lacks is deleted."""

    async def scenario() -> tuple[set[ObjectKey], dict[str, Any], int]:
        events: list[str] = []
        before = {("Namespace", "", n) for n in ("a", "b", "c", "d")}
        sink = Recorder(events, before)
        seen: set[ObjectKey] = set()
        meta = await apply_list(
            _chunks(_namespaces(["b", "d", "e"])), _project, sink, seen, Slicer()
        )
        removed = await remove_unseen("Namespace", sink, seen, Slicer())
        return sink.held("Namespace"), meta, removed

    held, meta, removed = asyncio.run(scenario())
    assert held == {("Namespace", "", n) for n in ("b", "d", "e")}
    assert meta == {"resourceVersion": "9"}
    assert removed == 2


def test_the_seen_keys_are_let_go_in_slices() -> None:
    """The keys of a 100 000-object relist are freed a few thousand per turn of the loop."""

    async def scenario() -> tuple[int, int]:
        seen = ShardedSet[ObjectKey]()
        for i in range(10_000):
            seen.add(("Service", "ns", f"svc-{i}"))
        turns = 0
        done = asyncio.Event()

        async def loop_turns() -> None:
            nonlocal turns
            while not done.is_set():
                turns += 1
                await asyncio.sleep(0)

        counter = asyncio.ensure_future(loop_turns())
        await forget(seen, Slicer(budget=1.0, clock=Ticks()))
        done.set()
        await counter
        return len(seen), turns

    left, turns = asyncio.run(scenario())
    assert left == 0
    assert turns >= 10_000 // 256  # the loop had a turn between slices
