"""Recognising a client's search-list walk from the queries it sends, without I/O or a clock.

The server's view of what ``search.py`` does on the client: the *searchwalk* plugin and
``clusterdns tap --diagnose`` both feed it replies.

A pod with the kubelet's resolv.conf (``search <ns>.svc.<zone> svc.<zone> <zone>``,
``ndots:5``) that looks up ``X`` with fewer than 5 dots asks, for A and AAAA,

    X.<ns>.svc.<zone>   NXDOMAIN
    X.svc.<zone>        NXDOMAIN
    X.<zone>            NXDOMAIN
    X.<host domains>    NXDOMAIN  (the node's search domains, when there are any)
    X                   the answer

(or stops earlier, at the first search name that exists).  The NXDOMAINs are
queries that only exist because of the search list: the waste that ``ndots``,
trailing dots or ``autopath`` remove.

``WalkTracker`` is fed every reply (client, name, rcode, time).  An NXDOMAIN
for a name of the form ``X.<l>.svc.<zone>``, ``X.svc.<zone>`` or ``X.<zone>`` is
remembered under ``X`` for that client; a later NXDOMAIN for ``X.<other>`` joins
the same walk; the first other reply for ``X`` or ``X.<search domain>`` ends it,
and the walk is reported: its namespace (the ``<l>`` of the first step, or the
one the caller knows for the client), the name, how many queries it took and
how many of them were wasted.  A second final reply (AAAA after A) of a walk
already reported counts as one more walk query.

Memory is bounded whatever clients send: at most ``max_clients`` clients (the
least recently seen goes), ``max_pending`` open walks per client, and a walk
not ended within ``window`` seconds is forgotten.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

NXDOMAIN = 3
MAX_CLIENTS = 10_000
MAX_PENDING = 16
WINDOW = 10.0


@dataclass(frozen=True, slots=True)
class Walk:
    """A finished walk (or one more query of a finished walk when ``queries`` is 1 and ``wasted`` 0)."""

    client: str
    namespace: str
    name: str  # X, as the application asked it (no trailing dot)
    queries: int
    wasted: int


@dataclass(slots=True)
class _Open:
    namespace: str
    wasted: int
    started: float
    done: bool = False


def _strip(name: str) -> str:
    return name[:-1] if name.endswith(".") else name


class WalkTracker:
    def __init__(
        self,
        zones: tuple[str, ...] = ("cluster.local",),
        window: float = WINDOW,
        max_clients: int = MAX_CLIENTS,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self.zones = tuple(_strip(z.lower()) for z in zones if _strip(z))
        self.window = window
        self.max_clients = max_clients
        self.max_pending = max_pending
        self.clients: OrderedDict[str, OrderedDict[str, _Open]] = OrderedDict()

    def _zone_of(self, name: str) -> str | None:
        for zone in self.zones:
            if name.endswith("." + zone):
                return zone
        return None

    def starts(self, name: str) -> list[tuple[str, str]]:
        """(X, namespace) pairs an NXDOMAIN for ``name`` may be a search step of."""
        zone = self._zone_of(name)
        if zone is None:
            return []
        rest = name[: -len(zone) - 1]
        found: list[tuple[str, str]] = []
        if rest.endswith(".svc"):
            head = rest[:-4]
            x, dot, ns = head.rpartition(".")
            if dot and x:
                found.append((x, ns))  # X.<ns>.svc.<zone>
            if head:
                found.append((head, ""))  # X.svc.<zone>
        elif rest:
            found.append((rest, ""))  # X.<zone>
        return found

    def observe(
        self, client: str, name: str, rcode: int, now: float, namespace: str = ""
    ) -> list[Walk]:
        """Feed one reply; return the walks it ends (usually none)."""
        name = _strip(name.lower())
        walks = self.clients.get(client)
        if walks is not None:
            self.clients.move_to_end(client)
            self._expire(walks, now)
        if rcode == NXDOMAIN:
            starts = self.starts(name)
            if starts:
                if walks is None:
                    walks = self._new_client(client)
                for x, ns in starts:
                    self._step(walks, x, namespace or ns, now)
                return []
            if walks:
                # X.<host search domain>: part of an open walk for X
                prefix = self._open_prefix(walks, name)
                if prefix is not None:
                    walks[prefix].wasted += 1
                    return []
        if not walks:
            return []
        return self._finish(client, walks, name, namespace)

    def _new_client(self, client: str) -> OrderedDict[str, _Open]:
        walks: OrderedDict[str, _Open] = OrderedDict()
        self.clients[client] = walks
        if len(self.clients) > self.max_clients:
            self.clients.popitem(last=False)
        return walks

    def _step(self, walks: OrderedDict[str, _Open], x: str, namespace: str, now: float) -> None:
        current = walks.get(x)
        if current is None or current.done:
            walks[x] = _Open(namespace, 1, now)
            if len(walks) > self.max_pending:
                walks.popitem(last=False)
            return
        current.wasted += 1
        if not current.namespace:
            current.namespace = namespace

    def _open_prefix(self, walks: OrderedDict[str, _Open], name: str) -> str | None:
        head = name
        while "." in head:
            head = head.rsplit(".", 1)[0]
            found = walks.get(head)
            if found is not None and not found.done:
                return head
        return None

    def _finish(
        self, client: str, walks: OrderedDict[str, _Open], name: str, namespace: str
    ) -> list[Walk]:
        candidates = [name]
        zone = self._zone_of(name)
        if zone is not None:
            candidates.extend(x for x, _ns in self.starts(name))
        else:
            prefix = self._open_prefix(walks, name)
            if prefix is not None:
                candidates.append(prefix)
        for x in candidates:
            walk = walks.get(x)
            if walk is None:
                continue
            if walk.done:
                return [
                    Walk(
                        client=client,
                        namespace=walk.namespace or namespace,
                        name=x,
                        queries=1,
                        wasted=0,
                    )
                ]
            walk.done = True
            ns = walk.namespace or namespace
            return [
                Walk(
                    client=client, namespace=ns, name=x, queries=walk.wasted + 1, wasted=walk.wasted
                )
            ]
        return []

    def _expire(self, walks: OrderedDict[str, _Open], now: float) -> None:
        while walks:
            first = next(iter(walks.values()))
            if now - first.started <= self.window:
                break
            walks.popitem(last=False)
