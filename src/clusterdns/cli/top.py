"""clusterdns top: a live view of one DNS server, from its /metrics or from dnstap."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator, Callable

from clusterdns import extras
from clusterdns.top.report import Report
from clusterdns.top.scrape import metrics_windows

DESCRIPTION = """\
Watch one DNS server (clusterdns or CoreDNS): queries per second by rcode and type, latency
percentiles, cache hits, search-list waste, refreshed every --interval seconds.  From the
server's /metrics (the prometheus plugin's address) the counts are the counters' increase
between two scrapes and the percentiles come from the latency histogram's buckets.  With
--dnstap SOCKET, top listens there for the server's dnstap plugin (`dnstap unix:///PATH full`)
and adds the top names, clients and NXDOMAIN names.  --once prints one window and exits
(it samples twice, --interval apart); --json prints JSON (one object per window).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("metrics", nargs="?", default="http://127.0.0.1:9153/metrics",
                        metavar="URL", help="the server's /metrics (default %(default)s)")  # fmt: skip
    parser.add_argument("--dnstap", metavar="SOCKET",
                        help="listen for dnstap here instead: a unix socket path or tcp://HOST:PORT")  # fmt: skip
    parser.add_argument("--interval", type=float, default=2.0, metavar="SECONDS",
                        help="window and refresh interval (default 2)")  # fmt: skip
    parser.add_argument("--once", action="store_true", help="one window, then exit")
    parser.add_argument("--json", action="store_true", help="JSON instead of the live view")
    parser.add_argument("--zone", action="append", default=[], dest="zones",
                        help="cluster zone for search walks seen in dnstap (default cluster.local)")  # fmt: skip


def _windows(args: argparse.Namespace, started: Callable[[], None]) -> AsyncIterator[Report]:
    if args.dnstap is None:
        return metrics_windows(args.metrics, args.interval, started)
    extras.require("dnstap")
    # protobuf (the [dnstap] extra) is imported only when dnstap is asked for
    from clusterdns.top.tapsource import tap_windows

    address = args.dnstap if "://" in args.dnstap else f"unix://{args.dnstap}"
    return tap_windows(address, args.interval, tuple(args.zones) or ("cluster.local",), started)


def _announce(args: argparse.Namespace) -> Callable[[], None]:
    """Say on stderr when the window starts: a script can send its load after this line."""

    def started() -> None:
        source = args.dnstap or args.metrics
        print(f"clusterdns top: sampling {source} every {args.interval:g} s", file=sys.stderr)
        sys.stderr.flush()

    return started


async def _print_json(args: argparse.Namespace) -> None:
    async for report in _windows(args, _announce(args)):
        print(json.dumps(report.to_json()), flush=True)
        if args.once:
            return


async def _live(args: argparse.Namespace) -> None:
    # rich (the [tools] extra, required for `top` in extras.COMMANDS) only for the live view
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    from clusterdns.top.render import render

    console = Console()
    waiting = Text(f"sampling {args.dnstap or args.metrics} for {args.interval:g} s...")
    with Live(waiting, console=console, auto_refresh=False, transient=False) as live:
        async for report in _windows(args, lambda: None):
            live.update(render(report), refresh=True)
            if args.once:
                return


def run(args: argparse.Namespace) -> int:
    if args.interval <= 0:
        raise SystemExit("clusterdns top: --interval must be more than 0 seconds")
    try:
        asyncio.run(_print_json(args) if args.json else _live(args))
    except KeyboardInterrupt:
        return 0
    return 0
