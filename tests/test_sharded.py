"""ShardedDict and ShardedSet behave as the dict and set they stand in for."""

from __future__ import annotations

import random

import pytest

from clusterdns.sharded import ShardedDict, ShardedSet


def test_sharded_dict_matches_a_dict_through_random_operations() -> None:
    rng = random.Random(7)
    plain: dict[str, int] = {}
    sharded: ShardedDict[str, int] = ShardedDict()
    for step in range(20_000):
        key = f"10.0.{rng.randrange(40)}.{rng.randrange(256)}"
        op = rng.randrange(5)
        if op == 0:
            plain[key] = sharded[key] = step
        elif op == 1:
            assert sharded.pop(key, None) == plain.pop(key, None)
        elif op == 2:
            assert sharded.setdefault(key, step) == plain.setdefault(key, step)
        elif op == 3 and key in plain:
            del plain[key]
            del sharded[key]
        else:
            assert sharded.get(key) == plain.get(key)
            assert (key in sharded) == (key in plain)
    assert len(sharded) == len(plain)
    assert bool(sharded) == bool(plain)
    assert dict(sharded.items()) == plain
    assert sorted(sharded) == sorted(plain)
    assert sorted(k for keys in sharded.key_lists() for k in keys) == sorted(plain)
    assert sorted(sharded.values()) == sorted(plain.values())


def test_sharded_dict_lets_go_one_entry_at_a_time() -> None:
    sharded: ShardedDict[int, str] = ShardedDict()
    for i in range(500):
        sharded[i] = str(i)
    taken = {sharded.popitem() for _ in range(500)}
    assert taken == {(i, str(i)) for i in range(500)}
    assert not sharded
    with pytest.raises(KeyError):
        sharded.popitem()
    with pytest.raises(KeyError):
        sharded.pop(1)


def test_sharded_set_matches_a_set() -> None:
    rng = random.Random(11)
    plain: set[tuple[str, str]] = set()
    sharded: ShardedSet[tuple[str, str]] = ShardedSet()
    for _ in range(10_000):
        key = (f"ns-{rng.randrange(5)}", f"svc-{rng.randrange(300)}")
        if rng.random() < 0.6:
            plain.add(key)
            sharded.add(key)
        else:
            plain.discard(key)
            sharded.discard(key)
        assert (key in sharded) == (key in plain)
    assert len(sharded) == len(plain) and set(sharded) == plain
    drained = {sharded.pop() for _ in range(len(plain))}
    assert drained == plain and not sharded
    with pytest.raises(KeyError):
        sharded.pop()
