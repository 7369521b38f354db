"""Dicts and sets that grow without a stall: many small tables instead of one big one.

CPython grows a dict or set by building a table twice the size and moving
every entry across, in one call.  At a few hundred thousand entries that is
one insert of 20-25 ms (measured here: a dict of IP strings at 349 526
entries, a set at 314 573): the endpoint-address index of 50 000 services
with 10 endpoints each passes that size while a first list or a reload fills
it, and every query waiting meanwhile waits that long.  Split over 64 tables
chosen by the key's hash, each table is 1/64 of the size and so is each move:
under half a millisecond at a million entries.  A lookup costs one Python
call more than a plain dict, so these are for the indexes that changes
maintain, not for the tables every query reads.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, MutableMapping
from typing import Any, Generic, TypeVar, overload

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
T = TypeVar("T")

SHARDS = 64
_MASK = SHARDS - 1
#: the shard comes from bits of the hash above those a small table indexes by: shards
#: chosen by the low bits left every key of a table on 1/64 of its slots (collisions:
#: 17 us an insert instead of 0.1)
_SHIFT = 20
_MISSING = object()


class _Sharded(Generic[K]):
    """What a sharded dict and a sharded set have alike: size, truth, keys, clearing."""

    __slots__ = ("_shards",)
    _shards: list[Any]

    def __contains__(self, key: object) -> bool:
        return key in self._shards[(hash(key) >> _SHIFT) & _MASK]

    def __len__(self) -> int:
        return sum(map(len, self._shards))

    def __bool__(self) -> bool:
        return any(self._shards)

    def __iter__(self) -> Iterator[K]:
        for shard in self._shards:
            yield from shard

    def clear(self) -> None:
        for shard in self._shards:
            shard.clear()


class ShardedDict(_Sharded[K], MutableMapping[K, V]):
    """A ``dict`` over ``SHARDS`` small dicts (views and ``==`` come from MutableMapping)."""

    __slots__ = ()

    def __init__(self) -> None:
        self._shards: list[dict[K, V]] = [{} for _ in range(SHARDS)]

    def __getitem__(self, key: K) -> V:
        return self._shards[(hash(key) >> _SHIFT) & _MASK][key]

    def __setitem__(self, key: K, value: V) -> None:
        self._shards[(hash(key) >> _SHIFT) & _MASK][key] = value

    def __delitem__(self, key: K) -> None:
        del self._shards[(hash(key) >> _SHIFT) & _MASK][key]

    @overload
    def get(self, key: K) -> V | None: ...
    @overload
    def get(self, key: K, default: T) -> V | T: ...
    def get(self, key: K, default: object = None) -> object:
        return self._shards[(hash(key) >> _SHIFT) & _MASK].get(key, default)

    def setdefault(self, key: K, default: V) -> V:
        return self._shards[(hash(key) >> _SHIFT) & _MASK].setdefault(key, default)

    @overload
    def pop(self, key: K) -> V: ...
    @overload
    def pop(self, key: K, default: T) -> V | T: ...
    def pop(self, key: K, default: object = _MISSING) -> object:
        shard = self._shards[(hash(key) >> _SHIFT) & _MASK]
        return shard.pop(key) if default is _MISSING else shard.pop(key, default)

    def popitem(self) -> tuple[K, V]:
        """Some entry, removed (KeyError when empty): for letting go of it a little at a time."""
        for shard in self._shards:
            if shard:
                return shard.popitem()
        raise KeyError("popitem(): ShardedDict is empty")

    def key_lists(self) -> list[list[K]]:
        """A snapshot of the keys, one list per table: C calls only, however many keys."""
        return [list(shard) for shard in self._shards]


class ShardedSet(_Sharded[K]):
    """The subset of ``set`` the cluster indexes use, over ``SHARDS`` small sets."""

    __slots__ = ("_cursor",)

    def __init__(self) -> None:
        self._shards: list[set[K]] = [set() for _ in range(SHARDS)]
        self._cursor = 0  # no shard before it had anything when pop last looked

    def add(self, key: K) -> None:
        self._shards[(hash(key) >> _SHIFT) & _MASK].add(key)

    def discard(self, key: K) -> None:
        self._shards[(hash(key) >> _SHIFT) & _MASK].discard(key)

    def pop(self) -> K:
        shard = self._shards[self._cursor]
        if shard:
            return shard.pop()
        for i, shard in enumerate(self._shards):
            if shard:
                self._cursor = i
                return shard.pop()
        raise KeyError("pop from an empty ShardedSet")
