"""The conntrack race as a decision: which packets of a flow pass, and when flows are forgotten."""

from __future__ import annotations

import pytest

from clusterdns.conntrackrace.race import ConntrackRace

MS = 1_000_000
A = ("127.0.0.1", 40000)
B = ("127.0.0.1", 40001)


@pytest.mark.parametrize(
    ("packets", "verdicts"),
    [
        # glibc: A then AAAA from one socket, microseconds apart -> the second loses the race
        ([(A, 0), (A, 20_000)], [True, False]),
        # the retry after the timeout passes: the flow is confirmed by then
        ([(A, 0), (A, 20_000), (A, 300 * MS), (A, 300 * MS + 10)], [True, False, True, True]),
        # single-request-reopen: a second socket is a second flow
        ([(A, 0), (B, 20_000)], [True, True]),
        # just inside and just outside the 5 ms window
        ([(A, 0), (A, 5 * MS - 1)], [True, False]),
        ([(A, 0), (A, 5 * MS)], [True, True]),
        # a flow idle past the flow timeout is new again, and races again
        ([(A, 0), (A, 6 * MS), (A, 31_000 * MS), (A, 31_000 * MS + 5)], [True, True, True, False]),
    ],
)
def test_race_decisions(packets: list[tuple[tuple[str, int], int]], verdicts: list[bool]) -> None:
    race = ConntrackRace(window_ns=5 * MS, flow_timeout_ns=30_000 * MS)
    assert [race.on_query(source, t) for source, t in packets] == verdicts
    assert race.dropped == verdicts.count(False)
    assert race.forwarded == verdicts.count(True)


def test_idle_flows_expire() -> None:
    race = ConntrackRace(window_ns=5 * MS, flow_timeout_ns=1000 * MS)
    race.on_query(A, 0)
    race.on_query(B, 900 * MS)
    assert race.expire(1500 * MS) == [A]
    assert race.is_tracked(B) and not race.is_tracked(A)
