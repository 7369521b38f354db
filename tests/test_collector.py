"""The garbage-collector policy: off while anything builds long-lived state, then frozen."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from clusterdns.collector import THRESHOLD0, CollectorPolicy


@pytest.fixture
def restore_gc() -> Iterator[None]:
    enabled, threshold = gc.isenabled(), gc.get_threshold()
    yield
    gc.set_threshold(*threshold)
    (gc.enable if enabled else gc.disable)()


def test_overlapping_starts_keep_collection_off_until_the_last_ends(restore_gc: None) -> None:
    """Two kubernetes blocks (or a reload during a start) do not turn it back on early."""
    policy = CollectorPolicy()
    gc.enable()
    frozen_before = gc.get_freeze_count()
    with policy.building():
        assert not gc.isenabled()
        with policy.building():
            assert not gc.isenabled()
        assert not gc.isenabled()
        kept = [object() for _ in range(10)]
    assert gc.isenabled()
    assert gc.get_freeze_count() >= frozen_before
    assert gc.get_threshold()[0] == THRESHOLD0
    assert kept


def test_a_failed_start_turns_collection_back_on(restore_gc: None) -> None:
    policy = CollectorPolicy()
    with pytest.raises(RuntimeError), policy.building():
        raise RuntimeError("a plugin failed to start")
    assert gc.isenabled()
