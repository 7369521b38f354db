"""``clusterdns serve``: run the DNS server (CoreDNS's flags)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from clusterdns.errors import ClusterDNSError, ConfigError
from clusterdns.server.run import (
    configure_logging,
    default_corefile,
    install_event_loop,
    serve_until_signalled,
)
from clusterdns.server.server import Server

COMMAND = "serve"
HELP = "run the DNS server from a Corefile (the embedded sample on 127.0.0.1:1053 without one)"
DESCRIPTION = """Run the DNS server, as `coredns` does.

Without -conf it serves the embedded default on 127.0.0.1:1053 (UDP and TCP).
SIGTERM stops it (after the health plugin's lameduck); SIGUSR1 reloads the Corefile."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-conf", "--conf", metavar="FILE", help="Corefile to load (default: the embedded sample)"
    )
    parser.add_argument(
        "-dns.port",
        "--dns.port",
        "-p",
        dest="port",
        type=int,
        default=None,
        metavar="N",
        help="default port for server blocks that name none (53 with -conf, 1053 without)",
    )
    parser.add_argument("-quiet", "--quiet", action="store_true", help="do not print the banner")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def load(args: argparse.Namespace) -> tuple[str, str]:
    if not args.conf:
        return default_corefile(), "<embedded default Corefile>"
    try:
        with open(args.conf, encoding="utf-8") as handle:
            return handle.read(), args.conf
    except OSError as exc:
        raise ConfigError(f"cannot read Corefile {args.conf}: {exc.strerror}") from exc


def run(args: argparse.Namespace) -> int:
    configure_logging(args.verbose)
    text, filename = load(args)
    port = args.port if args.port is not None else (53 if args.conf else 1053)
    install_event_loop()
    server = Server(text, filename, default_port=port)
    try:
        planned = server.plan(text)  # refuse a bad file before any socket is bound
    except ClusterDNSError as exc:
        print(f"clusterdns serve: {exc}", file=sys.stderr)
        return 1
    try:
        asyncio.run(serve_until_signalled(server, args.conf, args.quiet, planned))
    except ClusterDNSError as exc:
        print(f"clusterdns serve: {exc}", file=sys.stderr)
        return 1
    return 0
