"""``clusterdns lab``: the conntrack race, in a lossy UDP relay on loopback (the default) or
for real in network namespaces with kube-proxy's rules (``clusterdns lab kernel``)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Callable
from types import FrameType

from rich.console import Console

from clusterdns.bench.queries import parse_server
from clusterdns.conntrackrace.race import RaceCounters
from clusterdns.conntrackrace.relay import serve_relay
from clusterdns.kernellab.kubeproxy import ProxyMode
from clusterdns.kernellab.lab import LabOptions, missing_requirements, run_lab
from clusterdns.kernellab.lookups import Resolver
from clusterdns.kernellab.render import render_lab

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

`clusterdns lab kernel` (root) builds a node out of network namespaces and veth pairs: a
client pod, a node with kube-proxy's DNS rules for the VIP 10.96.0.10 (iptables with and
without masquerading and --random-fully, nftables, IPVS where the kernel has it, a node
cache on 169.254.20.10 with NOTRACK), and --replicas clusterdns servers as endpoints.  For
each kube-proxy setting and each resolver setting (parallel A/AAAA from one socket as
glibc and musl send them, single-request, single-request-reopen, use-vc) it runs --rounds
lookups and reports lookups, answers, stalls (a whole --timeout), the lookup-time
histogram and the node's per-CPU conntrack counters before and after, and says what this
kernel does about the race.  Everything it made is removed when it ends, also on Ctrl-C.

example:
  clusterdns lab kernel --rounds 200 --timeout 5
  clusterdns lab kernel --proxy iptables,nodecache --resolver parallel,use-vc --json
"""


def _choices(kind: type[ProxyMode] | type[Resolver]) -> Callable[[str], tuple[object, ...]]:
    def parse(text: str) -> tuple[object, ...]:
        try:
            return tuple(kind(part.strip()) for part in text.split(",") if part.strip())
        except ValueError:
            names = ",".join(m.value for m in kind)
            raise argparse.ArgumentTypeError(f"choose from {names}") from None

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "mode", nargs="?", choices=["relay", "kernel"], default="relay",
        help="relay (default): the user-space relay; kernel: namespaces, kube-proxy rules, conntrack",
    )  # fmt: skip
    parser.add_argument(
        "--upstream", metavar="HOST:PORT", help="relay: the real DNS server (loopback); required"
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
        "--json", action="store_true", help="print the counters (kernel: the report) as JSON"
    )
    kernel = parser.add_argument_group("kernel")
    kernel.add_argument("--rounds", type=int, default=200, help="lookups per setting (default 200)")
    kernel.add_argument("--timeout", type=float, default=5.0,
                        help="resolver timeout in seconds: a lost packet stalls this long (default 5)")  # fmt: skip
    kernel.add_argument("--replicas", type=int, default=2, help="clusterdns endpoints (default 2)")
    kernel.add_argument("--proxy", type=_choices(ProxyMode), default=tuple(ProxyMode),
                        help="kube-proxy settings, comma-separated (default all: "
                        + ",".join(m.value for m in ProxyMode) + ")")  # fmt: skip
    kernel.add_argument("--resolver", type=_choices(Resolver), default=tuple(Resolver),
                        help="resolver settings, comma-separated (default all: "
                        + ",".join(m.value for m in Resolver) + ")")  # fmt: skip


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM tears the lab down as Ctrl-C does


def run_kernel(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    lacks = missing_requirements()
    if lacks:
        console.print(f"lab kernel: cannot build the lab here: missing {'; '.join(lacks)}")
        return 2
    if args.rounds < 1 or args.replicas < 2 or args.timeout <= 0:
        console.print("lab kernel: --rounds must be >= 1, --replicas >= 2, --timeout > 0")
        return 2
    options = LabOptions(
        rounds=args.rounds,
        timeout=args.timeout,
        replicas=args.replicas,
        proxies=tuple(args.proxy),
        resolvers=tuple(args.resolver),
    )
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        report = run_lab(options, progress=lambda line: console.print(line, markup=False))
    finally:
        signal.signal(signal.SIGTERM, previous)
    if args.json:
        json.dump(report.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        render_lab(report, Console(highlight=False))
    return 0


def run(args: argparse.Namespace) -> int:
    if args.mode == "kernel":
        return run_kernel(args)
    console = Console(stderr=True)
    if not args.upstream:
        console.print("lab: --upstream HOST:PORT is required (or use `clusterdns lab kernel`)")
        return 2

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
