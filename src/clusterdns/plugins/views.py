"""Cluster views that a supervisor builds once and its forked workers take over.

With ``serve -workers N`` the supervisor process sets up the Corefile, starts
only the plugins that hold a view of the cluster (the kubernetes plugin's
store and zone, fed by one list+watch), and forks the workers, which share
that state copy-on-write.  Each worker sets its own plugins up from the same
Corefile; a plugin that finds an inherited view under its key (``view_key``:
the server block's keys and the directive's tokens) follows it instead of
opening a source of its own.  The supervisor then streams every change it
applies, in order, and the worker applies it to its copy (``deliver``).

Only the supervisor's side (``ViewOwner``, ``Publisher``) and the worker's
registry live here, so that neither ``server/`` nor a plugin imports the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from clusterdns.corefile.model import Directive


class Publisher(Protocol):
    """Where a view owner in the supervisor sends what it applies (to every worker)."""

    def publish_changes(self, key: str, changes: Sequence[Any]) -> None: ...
    def publish_synced(self, key: str, kind: str) -> None: ...


@runtime_checkable
class ViewOwner(Protocol):
    """A plugin whose cluster state the supervisor builds and its workers inherit."""

    view_key: str

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def apply(self, changes: Sequence[Any], *, live: bool) -> None: ...
    def waiting(self) -> frozenset[str]: ...
    def publish_to(self, publisher: Publisher | None) -> None: ...


class Follower(Protocol):
    def synced(self, kind: str) -> None: ...


@dataclass
class InheritedView:
    """A view forked from the supervisor: its owner as it was, and who follows it now."""

    owner: ViewOwner
    waiting: set[str]
    followers: list[Follower] = field(default_factory=list)


_INHERITED: dict[str, InheritedView] = {}


def view_key(keys: Iterable[str], listen: Iterable[str], directive: Directive) -> str:
    """The same text in the supervisor and in a worker for the same directive of the same block.

    Line numbers do not count, so a reload that moves the directive keeps its view.
    """
    return repr((tuple(keys), tuple(listen), _tokens(directive)))


def _tokens(directive: Directive) -> tuple[object, ...]:
    return (directive.name, directive.args, tuple(_tokens(d) for d in directive.block))


def inherit(owners: Iterable[ViewOwner]) -> None:
    """In a freshly forked worker: the supervisor's views become this process's to follow."""
    _INHERITED.clear()
    for owner in owners:
        owner.publish_to(None)  # the supervisor's sockets are not this process's
        _INHERITED[owner.view_key] = InheritedView(owner, set(owner.waiting()))


def inherited(key: str) -> InheritedView | None:
    return _INHERITED.get(key)


def deliver(key: str, changes: Sequence[Any]) -> None:
    """Apply changes the supervisor applied (its followers share the owner's store)."""
    view = _INHERITED.get(key)
    if view is not None:
        view.owner.apply(changes, live=False)


def deliver_synced(key: str, kind: str) -> None:
    view = _INHERITED.get(key)
    if view is None:
        return
    view.waiting.discard(kind)
    for follower in list(view.followers):
        follower.synced(kind)
