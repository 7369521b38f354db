"""The conntrack-race relay: the sans-I/O decision, then glibc-like lookups through the real relay."""

from __future__ import annotations

from typing import Any

import pytest

from clusterdns.bench.lab import ConntrackRace

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


LOOKUPS = 12
TIMEOUT = 0.3


def _through_relay(
    dnsmasq: Any, relay_in_thread: Any, bench_json: Any, *extra: str
) -> tuple[dict[str, Any], Any]:
    # A wide window makes the drop certain even if the client is preempted between its two sends.
    with relay_in_thread(dnsmasq, window=0.05) as running:
        doc = bench_json(
            "--server", running.server.address, "--resolver", "-host", "host7",
            "--search", "bench.test", "-n", str(LOOKUPS), "-c", "4",
            "--timeout", str(TIMEOUT), "-l", str(TIMEOUT * 1000), *extra,
        )  # fmt: skip
        return doc, running.relay.counters


def test_glibc_parallel_queries_wait_a_whole_timeout(
    dnsmasq: Any, relay_in_thread: Any, bench_json: Any
) -> None:
    doc, counters = _through_relay(dnsmasq, relay_in_thread, bench_json)
    assert doc["completed"] == LOOKUPS
    assert doc["rcodes"] == {"NOERROR": LOOKUPS}
    # every lookup lost its AAAA once, waited the timeout, and got it on the retry
    assert counters.dropped == LOOKUPS
    assert doc["try_timeouts"] == LOOKUPS
    assert doc["latency_ms"]["min"] >= TIMEOUT * 1000
    assert doc["over_limit"] == LOOKUPS


def test_reopen_avoids_the_race(dnsmasq: Any, relay_in_thread: Any, bench_json: Any) -> None:
    doc, counters = _through_relay(dnsmasq, relay_in_thread, bench_json, "--reopen")
    assert (doc["completed"], doc["try_timeouts"], doc["over_limit"]) == (LOOKUPS, 0, 0)
    assert counters.dropped == 0
    assert counters.flows == 2 * LOOKUPS


def test_tcp_avoids_the_race(dnsmasq: Any, relay_in_thread: Any, bench_json: Any) -> None:
    doc, counters = _through_relay(dnsmasq, relay_in_thread, bench_json, "--tcp")
    assert (doc["mode"], doc["completed"], doc["try_timeouts"], doc["over_limit"]) == (
        "resolver-tcp",
        LOOKUPS,
        0,
        0,
    )
    assert counters.queries == 0
    assert counters.tcp_connections == LOOKUPS
