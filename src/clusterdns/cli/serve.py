"""``clusterdns serve``: run the DNS server (CoreDNS's flags)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Iterator

from clusterdns import version_text
from clusterdns.errors import ClusterDNSError, ConfigError

# The server, its plugins and their libraries (most of the start-up time) are imported in
# the functions that use them, so `serve -version` answers without loading any of them.

DESCRIPTION = """Run the DNS server, as `coredns` does.

The Corefile is -conf FILE, else ./Corefile when it exists (CoreDNS's default
loader), else the embedded sample cluster on 127.0.0.1:1053 (UDP and TCP); the
first log line says which was loaded.  SIGTERM stops it (after the health
plugin's lameduck); SIGUSR1 reloads the Corefile."""

LOCAL_COREFILE = "Corefile"
EMBEDDED = "<embedded default Corefile>"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-conf",
        "--conf",
        metavar="FILE",
        help="Corefile to load (default: ./Corefile, else the embedded sample)",
    )
    parser.add_argument(
        "-dns.port",
        "--dns.port",
        "-p",
        dest="port",
        type=int,
        default=None,
        metavar="N",
        help="default port for server blocks that name none (53 with a Corefile, 1053 embedded)",
    )
    parser.add_argument("-pidfile", "--pidfile", metavar="FILE", help="write the process id here")
    parser.add_argument(
        "-plugins", "--plugins", action="store_true", help="list the plugins built in and exit"
    )
    parser.add_argument(
        "-version", "--version", action="store_true", help="show the version and exit"
    )
    parser.add_argument(
        "-workers",
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="serving processes sharing the sockets and one view of the cluster (default: the "
        "CPUs this process may use: its affinity and cgroup CPU quota; 1: a single process)",
    )
    parser.add_argument("-quiet", "--quiet", action="store_true", help="do not print the banner")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def load(args: argparse.Namespace) -> tuple[str, str | None]:
    """The Corefile text and its path (None: the embedded sample), as CoreDNS's loaders pick."""
    path = args.conf or (LOCAL_COREFILE if os.path.isfile(LOCAL_COREFILE) else None)
    if path is None:
        from clusterdns.server.run import default_corefile

        return default_corefile(), None
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read(), path
    except OSError as exc:
        raise ConfigError(f"cannot read Corefile {path}: {exc.strerror}") from exc


def plugins_text() -> str:
    """``-plugins``: the directives built in, in CoreDNS's listing shape."""
    from clusterdns.plugins import registry

    built = sorted(name for name in registry.ORDER if registry.built(name))
    return "Server types:\n  dns\n\nOther plugins:\n" + "".join(f"  dns.{n}\n" for n in built)


def run(args: argparse.Namespace) -> int:
    if args.version:
        print(version_text())
        return 0
    if args.plugins:
        print(plugins_text(), end="")
        return 0
    import asyncio

    from clusterdns.server.cpus import default_workers
    from clusterdns.server.run import (
        Serving,
        configure_logging,
        install_event_loop,
        serve_until_signalled,
    )
    from clusterdns.server.server import Server
    from clusterdns.server.workers import WorkerPool, check_workers

    configure_logging(args.verbose)
    try:
        workers = check_workers(args.workers if args.workers is not None else default_workers())
    except ClusterDNSError as exc:
        print(f"clusterdns serve: {exc}", file=sys.stderr)
        return 1
    text, path = load(args)
    logging.getLogger("clusterdns").info(
        "[INFO] Loaded Corefile %s", path if path else "(the embedded sample cluster)"
    )
    port = args.port if args.port is not None else (53 if path else 1053)
    server: Serving
    if workers == 1:
        install_event_loop()
        server = Server(text, path or EMBEDDED, default_port=port)
    else:
        # the supervisor keeps asyncio's own loop; each worker starts uvloop (workers.py)
        server = WorkerPool(text, path or EMBEDDED, default_port=port, workers=workers)
    try:
        planned = server.plan(text)  # refuse a bad file before any socket is bound
    except ClusterDNSError as exc:
        print(f"clusterdns serve: {exc}", file=sys.stderr)
        return 1
    try:
        with pidfile(args.pidfile):
            asyncio.run(serve_until_signalled(server, path, args.quiet, planned))
    except ClusterDNSError as exc:
        print(f"clusterdns serve: {exc}", file=sys.stderr)
        return 1
    return 0


@contextlib.contextmanager
def pidfile(path: str | None) -> Iterator[None]:
    """CoreDNS's ``-pidfile``: the process id written at start, the file removed at exit."""
    if not path:
        yield
        return
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(f"{os.getpid()}\n")
    except OSError as exc:
        raise ConfigError(f"cannot write pidfile {path}: {exc.strerror}") from exc
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.remove(path)
