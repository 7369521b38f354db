"""The load tester's glibc-like lookups through the real conntrack-race relay (``clusterdns.conntrackrace``)."""

from __future__ import annotations

from typing import Any

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
