"""The conntrack insert race as a sans-I/O decision: forward or drop each client packet.

The race (Linux netfilter, seen with kube-proxy's DNAT to the DNS Service): a
UDP flow gets its conntrack entry created when its first packet passes the
hooks, and the entry is only *confirmed* (inserted in the table) when that
packet leaves them.  glibc and musl send A and AAAA back to back from one
socket; when the second packet arrives before the first one's entry is
confirmed, it creates an entry of its own for the same 5-tuple, loses the
insert and is dropped.  The client then waits its whole timeout (5 s by
default) and asks again; by then the flow's entry exists and the retry passes.
Sources: the seed articles (003, 002) and Martynas Pumputis' analysis they cite.

``ConntrackRace``: a packet from a source (address, port) that starts a new flow
passes; any further packet of that flow that arrives within ``window`` of the
first is dropped; after the window the flow is confirmed and everything passes,
so the client's retry after its timeout gets through, as in a cluster.  Flows
idle longer than ``flow_timeout`` are forgotten, as conntrack forgets idle UDP
entries (nf_conntrack_udp_timeout, 30 s).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

Address = tuple[str, int]


@dataclass(slots=True)
class _Flow:
    first_ns: int
    last_ns: int
    confirmed: bool = False


@dataclass(frozen=True, slots=True)
class RaceCounters:
    """What the relay saw: queries in, forwarded, dropped by the race; replies back; flows."""

    queries: int
    forwarded: int
    dropped: int
    replies: int
    flows: int
    tcp_connections: int = 0


class ConntrackRace:
    """The sans-I/O decision: forward or drop each client packet, by flow and arrival time.

    Times are the packets' arrival times (the kernel's receive timestamps in the
    adapter) and the times replies were sent, on one clock.
    """

    def __init__(
        self, window_ns: int, flow_timeout_ns: int = 30_000_000_000, max_flows: int = 65536
    ) -> None:
        self.window_ns = window_ns
        self.flow_timeout_ns = flow_timeout_ns
        self.max_flows = max_flows
        self._flows: OrderedDict[Address, _Flow] = OrderedDict()
        self.queries = self.forwarded = self.dropped = self.replies = self.flows_created = 0

    def on_query(self, source: Address, arrived_ns: int) -> bool:
        """True to forward the packet, False to drop it (it lost the insert race)."""
        self.queries += 1
        flow = self._flows.get(source)
        if flow is None or arrived_ns - flow.last_ns > self.flow_timeout_ns:
            self._new_flow(source, arrived_ns)
            self.forwarded += 1
            return True
        flow.last_ns = max(flow.last_ns, arrived_ns)
        self._flows.move_to_end(source)
        if not flow.confirmed and arrived_ns - flow.first_ns < self.window_ns:
            self.dropped += 1
            return False
        flow.confirmed = True
        self.forwarded += 1
        return True

    def on_reply(self, source: Address, sent_ns: int) -> None:
        """A reply went back to ``source`` at ``sent_ns`` (it keeps the flow alive)."""
        self.replies += 1
        flow = self._flows.get(source)
        if flow is not None:
            flow.last_ns = max(flow.last_ns, sent_ns)

    def expire(self, now_ns: int) -> list[Address]:
        """Forget idle flows; returns their sources so the adapter can close their sockets."""
        gone = []
        for source, flow in self._flows.items():
            if now_ns - flow.last_ns <= self.flow_timeout_ns:
                break
            gone.append(source)
        for source in gone:
            del self._flows[source]
        return gone

    def _new_flow(self, source: Address, now_ns: int) -> None:
        self._flows.pop(source, None)
        self._flows[source] = _Flow(first_ns=now_ns, last_ns=now_ns)
        self.flows_created += 1
        while len(self._flows) > self.max_flows:
            self._flows.popitem(last=False)

    def counters(self, tcp_connections: int = 0) -> RaceCounters:
        return RaceCounters(
            queries=self.queries,
            forwarded=self.forwarded,
            dropped=self.dropped,
            replies=self.replies,
            flows=self.flows_created,
            tcp_connections=tcp_connections,
        )

    def is_tracked(self, source: Address) -> bool:
        return source in self._flows
