"""``python -m tests.support.apiserver``: serve a synthetic cluster for benchmarks.

Prints the URL on one line once it listens, then serves until SIGTERM or SIGINT.
The cluster comes from ``clusterdns.cluster.synthetic.generate`` (the same
generator as ``clusterdns synth``), so the same arguments give the same objects.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time

from clusterdns.cluster import synthetic
from tests.support.apiserver.resources import RESOURCES
from tests.support.apiserver.server import ApiServer, server_ssl_context


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.apiserver",
        description="A small Kubernetes API server (list + watch) serving a synthetic cluster.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port (0: any free one)")
    parser.add_argument("--synthetic-services", type=int, default=0, metavar="N")
    parser.add_argument("--endpoints-per-service", type=int, default=3, metavar="M")
    parser.add_argument("--namespaces", type=int, default=10, metavar="K")
    parser.add_argument("--pods", action="store_true", help="also create the endpoints' Pods")
    parser.add_argument("--token", action="append", default=[], help="accepted bearer token")
    parser.add_argument("--cert", help="TLS certificate (PEM); serves HTTPS")
    parser.add_argument("--key", help="TLS private key (PEM)")
    parser.add_argument("--client-ca", help="CA of accepted client certificates")
    parser.add_argument("--history", type=int, default=10_000, help="watch history window")
    parser.add_argument(
        "--bookmark-interval", type=float, default=60.0, help="seconds between BOOKMARK events"
    )
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    context = server_ssl_context(args.cert, args.key, args.client_ca) if args.cert else None
    server = ApiServer(
        host=args.host,
        port=args.port,
        ssl_context=context,
        tokens=args.token or None,
        history=args.history,
        bookmark_interval=args.bookmark_interval,
    )
    began = time.perf_counter()
    if args.synthetic_services:
        objects = synthetic.generate(
            args.namespaces, args.synthetic_services, args.endpoints_per_service, args.pods
        )
        server.load(objects)
        del objects
        print(
            f"loaded {args.synthetic_services} services at resourceVersion "
            f"{server.resource_version} in {time.perf_counter() - began:.1f}s",
            file=sys.stderr,
            flush=True,
        )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    restarts: set[asyncio.Task[None]] = set()
    loop.add_signal_handler(
        signal.SIGUSR1, lambda: restarts.add(asyncio.ensure_future(_restart_expired(server)))
    )
    await server.astart()
    print(server.url, flush=True)
    await stopping.wait()
    await server.astop()
    server.close()


async def _restart_expired(server: ApiServer) -> None:
    """SIGUSR1: restart, and answer the next watches 410 Gone, so every client relists
    (benchmarks/kubernetes_api.py forces relists under load this way)."""
    await server.astop()
    server.inject_fault(410, len(RESOURCES), verb="watch")
    await server.astart()
    print("restarted; the next watches are told 410 Gone", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
