"""``clusterdns bench``: load-test a DNS server (raw queries, or lookups as a libc makes them)."""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console

from clusterdns import extras
from clusterdns.bench.engine import run_workers
from clusterdns.bench.plan import BenchOptions, make_plan
from clusterdns.bench.report import plot, render, run_with_progress, to_json

DESCRIPTION = """\
Send DNS queries as fast as the concurrency allows (or at --qps) and report what came back.

The flags -host, -c, -d and -l are those of the small Go load tester in the
"K8S DNS 5 s timeout" article; --queries takes dnsperf's query-file format.
There is no default server: a pod's resolver would use the first nameserver of
its /etc/resolv.conf, which you get with --resolv-conf FILE; otherwise name the
server with --server HOST:PORT.

--resolver looks names up as glibc does (search list, A and AAAA back to back
from one socket, wait, retry after --timeout), which is the shape that meets
the conntrack race; --reopen and --single-request mimic the resolv.conf options
of those names, --tcp mimics use-vc.

Percentiles come from log buckets and are within 0.4 % of the exact values;
counts, min, max and mean are exact, also when --workers merges processes.

examples:
  clusterdns bench --server 127.0.0.1:5353 -host web.default.svc.cluster.local -c 200 -d 30 -l 5000
  clusterdns bench --server 127.0.0.1:5353 --queries queries.txt -d 10 --json
  clusterdns bench --resolv-conf pod-resolv.conf -p 5353 --resolver -host web -n 1000 --timeout 0.5
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    what = parser.add_argument_group("what to ask")
    what.add_argument("-host", "--host", dest="host", metavar="NAME", help="the name to query")
    what.add_argument(
        "--queries", metavar="FILE", help="dnsperf query file: 'name TYPE' per line, cycled"
    )
    what.add_argument("--type", default="A", help="record type for -host (default A)")
    where = parser.add_argument_group("where")
    where.add_argument("--server", metavar="HOST:PORT", help="the DNS server (an IP address)")
    where.add_argument(
        "--resolv-conf", metavar="FILE", help="use FILE's first nameserver (and search, ndots)"
    )
    where.add_argument(
        "-p",
        "--port",
        type=int,
        default=53,
        help="port for --resolv-conf's nameserver (default 53)",
    )
    load = parser.add_argument_group("how hard and how long")
    load.add_argument(
        "-c",
        dest="concurrency",
        type=int,
        default=100,
        metavar="CONCURRENCY",
        help="queries (lookups) in flight (default 100)",
    )
    load.add_argument(
        "-d",
        dest="duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seconds to send (default 10, or until -n)",
    )
    load.add_argument(
        "-n", "--count", type=int, default=0, help="send at most this many queries (lookups)"
    )
    load.add_argument("--qps", type=float, default=0.0, help="at most this many queries per second")
    load.add_argument(
        "-l",
        dest="limit_ms",
        type=float,
        default=0.0,
        metavar="LIMIT_MS",
        help="count answers that took at least this many ms",
    )
    load.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        help="seconds before a query counts as lost (default 5, glibc's)",
    )
    load.add_argument(
        "--tcp", action="store_true", help="use TCP (with --resolver: like options use-vc)"
    )
    load.add_argument(
        "--sockets",
        type=int,
        default=0,
        help="sockets (TCP connections) per worker (default min(c, 4))",
    )
    load.add_argument(
        "--workers", type=int, default=1, help="processes to spread the load over (default 1)"
    )
    stub = parser.add_argument_group("resolver mode")
    stub.add_argument(
        "--resolver", action="store_true", help="look names up as glibc does (A+AAAA on one socket)"
    )
    stub.add_argument(
        "--search",
        action="append",
        metavar="DOMAIN",
        help="search domain (repeat; default from --resolv-conf)",
    )
    stub.add_argument(
        "--ndots", type=int, default=None, help="ndots (default from --resolv-conf, else 1)"
    )
    stub.add_argument("--attempts", type=int, default=2, help="tries per name (default 2, glibc's)")
    stub.add_argument(
        "--reopen",
        action="store_true",
        help="like options single-request-reopen: AAAA from its own socket",
    )
    stub.add_argument(
        "--single-request", action="store_true", help="like options single-request: A, then AAAA"
    )
    out = parser.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="print the results as JSON")
    out.add_argument(
        "--plot", metavar="FILE.png", help="write latency over time and the histogram to a PNG"
    )


def run(args: argparse.Namespace) -> int:
    if args.plot:
        extras.require("plot")  # before the run, not after it: matplotlib draws --plot
    options = BenchOptions(
        host=args.host,
        queries_file=args.queries,
        rdtype=args.type,
        server=args.server,
        resolv_conf=args.resolv_conf,
        port=args.port,
        concurrency=args.concurrency,
        duration=args.duration,
        count=args.count,
        qps=args.qps,
        timeout=args.timeout,
        limit_ms=args.limit_ms,
        tcp=args.tcp,
        sockets=args.sockets,
        resolver=args.resolver,
        search=tuple(args.search) if args.search is not None else None,
        ndots=args.ndots,
        attempts=args.attempts,
        reopen=args.reopen,
        single_request=args.single_request,
    )
    plan = make_plan(options)
    workers = max(1, args.workers)
    console = Console(stderr=args.json)
    if args.json or not console.is_terminal:
        stats = run_workers(plan, workers)
    else:
        stats = run_with_progress(plan, workers, console)
    server = f"{plan.server[0]}:{plan.server[1]}"
    if args.plot:
        plot(
            stats,
            args.plot,
            title=f"clusterdns bench {server} ({stats.mode}, c={plan.concurrency})",
        )
    if args.json:
        doc = to_json(stats, server=server, concurrency=plan.concurrency, limit_ms=plan.limit_ms)
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        render(stats, console, server=server, concurrency=plan.concurrency, limit_ms=plan.limit_ms)
    return 0
