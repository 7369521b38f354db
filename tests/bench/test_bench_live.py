"""``clusterdns bench`` against a real dnsmasq on 127.0.0.1 with bounded counts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from clusterdns.bench.engine import run_workers
from clusterdns.bench.plan import LoadPlan
from clusterdns.bench.queries import QuerySpec, build_template

LATENCY_KEYS = {"min", "mean", "p50", "p90", "p99", "p99.9", "max", "stddev"}


def test_json_shape_and_exact_counts(dnsmasq: Any, bench_json: Any, tmp_path: Path) -> None:
    doc = bench_json(
        "--server",
        dnsmasq.address,
        "-host",
        "host1.bench.test",
        "-n",
        "3000",
        "-c",
        "50",
        "-l",
        "1e-6",
    )
    assert set(doc) >= {
        "server", "mode", "workers", "concurrency", "run_time_s", "sent", "completed", "timeouts",
        "rcodes", "qps", "latency_ms", "percentile_relative_error", "limit_ms", "over_limit",
        "histogram", "timeline",
    }  # fmt: skip
    assert (doc["mode"], doc["sent"], doc["completed"], doc["timeouts"]) == ("udp", 3000, 3000, 0)
    assert doc["rcodes"] == {"NOERROR": 3000}
    assert set(doc["latency_ms"]) == LATENCY_KEYS
    lat = doc["latency_ms"]
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p99.9"] <= lat["max"]
    # every answer takes at least a nanosecond, so all are over a 1 ns limit
    assert doc["over_limit"] == 3000
    assert sum(row["count"] for row in doc["histogram"]) == 3000
    assert sum(row["completed"] for row in doc["timeline"]) == 3000
    assert doc["qps"] > 0


def test_query_file_cycles_and_counts_rcodes(dnsmasq: Any, bench_json: Any, tmp_path: Path) -> None:
    queries = tmp_path / "queries.txt"
    # dnsmasq without upstream answers names outside its hosts file with REFUSED
    queries.write_text(
        "; dnsperf format\nhost1.bench.test A\nhost2.bench.test AAAA\nnot-here.example. A\n"
    )
    doc = bench_json(
        "--server", dnsmasq.address, "--queries", str(queries), "-n", "900", "-c", "30"
    )
    assert doc["rcodes"] == {"NOERROR": 600, "REFUSED": 300}
    assert doc["completed"] == 900


def test_tcp_mode(dnsmasq: Any, bench_json: Any) -> None:
    doc = bench_json(
        "--server", dnsmasq.address, "-host", "host3.bench.test", "--tcp", "-n", "300", "-c", "4"
    )
    assert doc["mode"] == "tcp"
    assert doc["sent"] == 300
    # dnsmasq may close a connection under us; such queries count as socket errors, never vanish
    assert doc["completed"] + doc["socket_errors"] + doc["timeouts"] == 300
    assert doc["completed"] > 0
    assert doc["rcodes"] == {"NOERROR": doc["completed"]}


def test_workers_merge_exactly(dnsmasq: Any, bench_json: Any) -> None:
    doc = bench_json(
        "--server",
        dnsmasq.address,
        "-host",
        "host4.bench.test",
        "-n",
        "2001",
        "-c",
        "20",
        "--workers",
        "3",
    )
    assert (doc["workers"], doc["sent"], doc["completed"]) == (3, 2001, 2001)
    assert sum(row["count"] for row in doc["histogram"]) == 2001


def test_resolv_conf_gives_the_server(dnsmasq: Any, bench_json: Any, tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text(f"nameserver {dnsmasq.host}\nsearch bench.test\noptions ndots:5\n")
    doc = bench_json(
        "--resolv-conf",
        str(conf),
        "-p",
        str(dnsmasq.port),
        "--resolver",
        "-host",
        "host5",
        "-n",
        "20",
        "-c",
        "2",
    )
    assert doc["server"] == dnsmasq.address
    assert (doc["mode"], doc["completed"], doc["try_timeouts"]) == ("resolver", 20, 0)
    assert doc["rcodes"] == {"NOERROR": 20}
    assert doc["packets"] == 40  # A and AAAA of host5.bench.test, found with the first suffix


def test_resolver_walks_the_search_list(dnsmasq: Any, bench_json: Any) -> None:
    # ndots 1 puts the search domains first: nowhere.test answers REFUSED, which stops the walk
    doc = bench_json(
        "--server", dnsmasq.address, "--resolver", "-host", "host6",
        "--search", "bench.test", "-n", "5", "-c", "1",
    )  # fmt: skip
    assert doc["rcodes"] == {"NOERROR": 5}
    assert doc["packets"] == 10


def test_plot_writes_a_png(dnsmasq: Any, bench_json: Any, tmp_path: Path) -> None:
    png = tmp_path / "bench.png"
    bench_json(
        "--server", dnsmasq.address, "-host", "host1.bench.test", "-n", "500", "--plot", str(png)
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_duration_bounds_the_run(dnsmasq: Any) -> None:
    plan = LoadPlan(
        server=(dnsmasq.host, dnsmasq.port),
        templates=(build_template(QuerySpec("host1.bench.test", 1)),),
        concurrency=10,
        duration=0.3,
        qps=2000,
        timeout=1.0,
    )
    stats = run_workers(plan, 1)
    assert stats.completed == stats.sent
    # the rate limit caps what 0.3 s can send (a count, not a timing: +1 for the first slot)
    assert stats.sent <= 2000 * 0.3 + 10


def test_no_server_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    from clusterdns.cli import main

    assert main(["bench", "-host", "a.test", "-n", "1"]) == 1
    assert "no server: give --server HOST:PORT" in capsys.readouterr().err


def test_unanswered_queries_time_out(bench_json: Any) -> None:
    import socket

    # A bound socket that never answers: every query must end as a timeout.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        doc = bench_json(
            "--server",
            f"127.0.0.1:{port}",
            "-host",
            "a.test",
            "-n",
            "20",
            "-c",
            "20",
            "--timeout",
            "0.2",
        )
    assert (doc["sent"], doc["completed"], doc["timeouts"]) == (20, 0, 20)
