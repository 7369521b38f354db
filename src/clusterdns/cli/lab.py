"""``clusterdns lab``: a lossy UDP relay that reproduces the conntrack race on loopback."""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console

from clusterdns.bench.queries import parse_server
from clusterdns.conntrackrace.race import RaceCounters
from clusterdns.conntrackrace.relay import serve_relay

DESCRIPTION = """\
Listen on 127.0.0.1:PORT (UDP and TCP) and relay to --upstream.  Over UDP, a
packet that arrives from the same source address and port within --window-ms
of the first packet of that new flow is dropped, as the Linux conntrack insert
race drops glibc's and musl's parallel A/AAAA queries behind a Service's DNAT.
TCP passes unharmed.  Point `clusterdns bench --resolver` at it to see lookups
wait a whole --timeout, and --reopen or --tcp make that go away.

example:
  clusterdns lab --upstream 127.0.0.1:5353 --port 5354 &
  clusterdns bench --server 127.0.0.1:5354 --resolver -host web.default.svc.cluster.local -n 100 --timeout 1
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--upstream", required=True, metavar="HOST:PORT", help="the real DNS server (loopback)"
    )
    parser.add_argument(
        "--listen",
        default="127.0.0.1",
        metavar="ADDRESS",
        help="address to listen on (default 127.0.0.1)",
    )
    parser.add_argument(
        "--port", type=int, default=0, help="port to listen on (default: an ephemeral one, printed)"
    )
    parser.add_argument(
        "--window-ms",
        type=float,
        default=5.0,
        help="race window after a flow's first packet (default 5)",
    )
    parser.add_argument(
        "--flow-timeout",
        type=float,
        default=30.0,
        help="seconds an idle flow is remembered (default 30, conntrack's UDP timeout)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=0.0,
        help="stop after this many seconds (default: at Ctrl-C)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the counters as JSON when it stops"
    )


def run(args: argparse.Namespace) -> int:
    console = Console(stderr=True)

    def started(port: int) -> None:
        console.print(
            f"lab: relaying 127.0.0.1:{port} -> {args.upstream} (window {args.window_ms:g} ms)"
        )

    counters = serve_relay(
        parse_server(args.upstream),
        listen=args.listen,
        port=args.port,
        window=args.window_ms / 1000,
        flow_timeout=args.flow_timeout,
        duration=args.duration,
        on_start=started,
    )
    if args.json:
        json.dump(counters_json(counters), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        Console().print(
            f"queries {counters.queries}  forwarded {counters.forwarded}  dropped {counters.dropped}  "
            f"replies {counters.replies}  flows {counters.flows}  tcp connections {counters.tcp_connections}"
        )
    return 0


def counters_json(counters: RaceCounters) -> dict[str, int]:
    return {name: getattr(counters, name) for name in RaceCounters.__slots__}
