"""One list of one resource, from response bytes to applied changes, in slices.

``apply_list`` reads a list response as it arrives, decodes it item by item
(``jsonlist.ListDecoder``), projects each item and hands the changes to the
sink in small batches, pausing for the query loop whenever a slice's budget is
spent (``slices.Slicer``).  The document is never held whole, neither as bytes
nor as objects.  ``remove_unseen`` is the end of a relist: what the sink holds
of the kind but the list did not have is removed, in slices too.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable, Sequence
from typing import Any, Protocol

from clusterdns.cluster.jsonlist import ListDecoder, items_of
from clusterdns.cluster.objects import ObjectKey, Slim
from clusterdns.slices import Slicer

Change = tuple[ObjectKey, Slim | None]

#: changes handed to the sink at once (small, so a batch never overruns a slice by much:
#: with reverse zones 32 EndpointSlices of 10 addresses took 8-9 ms)
BATCH = 8


class Seen(Protocol):
    """The keys a list had (a ``ShardedSet`` for the big lists: see sharded.py)."""

    def add(self, key: ObjectKey, /) -> None: ...
    def __contains__(self, key: object, /) -> bool: ...
    def __len__(self) -> int: ...
    def pop(self) -> ObjectKey: ...
    def clear(self) -> None: ...


class ListSink(Protocol):
    def apply(self, changes: Sequence[Change], *, live: bool) -> None: ...
    def held(self, kind: str) -> Iterable[ObjectKey]: ...


async def apply_list(
    chunks: AsyncIterable[bytes],
    project: Callable[[Any], Change | None],
    sink: ListSink,
    seen: Seen,
    slicer: Slicer,
) -> dict[str, Any]:
    """Apply every item of one list response; the list's metadata.

    ``project`` turns one decoded item into a change (None: skipped, already
    reported).  Raises ``jsonlist.BadList`` when the bytes are not a list.
    """
    decoder = ListDecoder()
    batch: list[Change] = []
    async for chunk in chunks:
        decoder.feed(chunk)
        for item in decoder.items():
            await _add(project(item), batch, sink, seen, slicer)
    for item in items_of(decoder.finish()):
        await _add(project(item), batch, sink, seen, slicer)
    if batch:
        sink.apply(batch, live=False)
    return decoder.metadata


async def _add(
    change: Change | None,
    batch: list[Change],
    sink: ListSink,
    seen: Seen,
    slicer: Slicer,
) -> None:
    if change is not None:
        seen.add(change[0])
        batch.append(change)
    if len(batch) >= BATCH or (batch and slicer.due()):
        sink.apply(batch, live=False)
        batch.clear()
    if slicer.due():
        await slicer.pause()


async def remove_unseen(kind: str, sink: ListSink, seen: Seen, slicer: Slicer) -> int:
    """Remove what ``sink`` holds of ``kind`` that the list did not have; how many."""
    gone: list[ObjectKey] = []
    for i, key in enumerate(sink.held(kind)):
        if key not in seen:
            gone.append(key)
        if i % 1024 == 1023 and slicer.due():
            await slicer.pause()
    for start in range(0, len(gone), BATCH):
        sink.apply([(key, None) for key in gone[start : start + BATCH]], live=False)
        if slicer.due():
            await slicer.pause()
    return len(gone)


async def forget(seen: Seen, slicer: Slicer) -> None:
    """Empty ``seen`` in slices.  A relist's keys are decoded anew, so the store does not
    share them: freeing 100 000 keys with their strings at once held the loop 16-26 ms."""
    while len(seen):
        for _ in range(min(256, len(seen))):
            seen.pop()
        if slicer.due():
            await slicer.pause()
