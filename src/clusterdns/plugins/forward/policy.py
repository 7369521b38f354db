"""The order in which upstreams are tried (CoreDNS's plugin/forward/policy.go)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


class Policy:
    def order(self, upstreams: Sequence[T]) -> list[T]:
        return list(upstreams)


class Sequential(Policy):
    """Always in the configured order."""


class Random(Policy):
    """A fresh random order per query."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()

    def order(self, upstreams: Sequence[T]) -> list[T]:
        ordered = list(upstreams)
        self.rng.shuffle(ordered)
        return ordered


class RoundRobin(Policy):
    """Each query starts one further along the list."""

    def __init__(self) -> None:
        self.turn = 0

    def order(self, upstreams: Sequence[T]) -> list[T]:
        if not upstreams:
            return []
        start = self.turn % len(upstreams)
        self.turn += 1
        return list(upstreams[start:]) + list(upstreams[:start])


def make(name: str) -> Policy:
    if name == "round_robin":
        return RoundRobin()
    if name == "sequential":
        return Sequential()
    return Random()
