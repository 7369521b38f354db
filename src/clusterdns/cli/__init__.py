"""The ``clusterdns`` command: one small module per subcommand, no logic of its own.

Each subcommand is a module of this package named after it, listed in COMMANDS with
its one-line help, that defines ``DESCRIPTION``, ``add_arguments(parser)`` and
``run(args) -> int``.  Only the chosen subcommand's module is imported, so
``clusterdns serve`` does not pay for the load tester's or the doctor's imports, and a
missing optional dependency of one tool does not stop the others.  Flags follow the tool
users already know (CoreDNS's ``-conf``, dnsperf's, the node cache's ``-localip``), so
single-dash long flags are allowed.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Collection, Sequence
from types import ModuleType

from clusterdns import __version__, extras
from clusterdns.errors import ClusterDNSError

# subcommand -> its one-line help (for `clusterdns --help`, without importing any of them)
COMMANDS: dict[str, str] = {
    "bench": "load-test a DNS server: QPS, rcodes, timeouts, latency percentiles and histogram",
    "doctor": "diagnose cluster DNS here: resolv.conf policy, ndots, replicas, 5 s timeouts, "
    "conntrack, Corefile",
    "env": "print the service environment variables a pod in NAMESPACE gets",
    "explain": "show every query a pod's resolver sends for a name (glibc or musl), and how "
    "to cut them",
    "lab": "relay DNS to a server, dropping the 2nd of two back-to-back UDP queries as the "
    "conntrack race does",
    "nodecache": "run the node-local DNS cache (k8s-dns-node-cache's flags): link-local IP, "
    "iptables NOTRACK",
    "resolvconf": "print the resolv.conf the kubelet gives a pod (Pod or workload manifest)",
    "serve": "run the DNS server from a Corefile (./Corefile, else the embedded sample on "
    "127.0.0.1:1053)",
    "synth": "write a synthetic cluster (namespaces, services, EndpointSlices, pods) as JSON "
    "or YAML",
    "tap": "read dnstap: listen on a socket or read a file, print, save, diagnose",
    "top": "watch one DNS server live: qps by rcode and type, latency, top names (/metrics or dnstap)",
}


def _help_formatter(prog: str, **kwargs: object) -> argparse.HelpFormatter:
    # rich-argparse (the [tools] extra) is imported only when help is shown: it costs
    # more to import than `serve -version` may take, and the core install lacks it.
    try:
        from rich_argparse import RawDescriptionRichHelpFormatter
    except ImportError:
        return argparse.RawDescriptionHelpFormatter(prog, **kwargs)  # type: ignore[arg-type]
    return RawDescriptionRichHelpFormatter(prog, **kwargs)  # type: ignore[arg-type]


def command_module(name: str) -> ModuleType:
    """Import subcommand ``name``; MissingExtra when an optional dependency it needs is absent."""
    extra = extras.COMMANDS.get(name)
    if extra is not None:
        extras.require(extra)
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        missing = extras.extra_for(exc)
        if missing is None:
            raise
        raise extras.MissingExtra(missing, exc.name or "") from exc


def build_parser(load: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The parser of every subcommand; only those in ``load`` (None: all) get their flags."""
    parser = argparse.ArgumentParser(
        prog="clusterdns",
        description="Kubernetes cluster DNS: a CoreDNS-compatible server, a node-local cache, "
        "and the tools to find out why DNS in a cluster misbehaves.",
        formatter_class=_help_formatter,
    )
    parser.add_argument("--version", action="version", version=f"clusterdns {__version__}")
    # prog given, so that argparse does not build a help formatter for it now
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", prog="clusterdns")
    for name, help_line in COMMANDS.items():
        command = sub.add_parser(name, help=help_line, formatter_class=_help_formatter)
        if load is None or name in load:
            module = command_module(name)
            command.description = getattr(module, "DESCRIPTION", help_line)
            module.add_arguments(command)
            command.set_defaults(_run=module.run)
    return parser


def _chosen(argv: Sequence[str]) -> str | None:
    """The subcommand named on the command line (the top level has no option with a value)."""
    first = next((a for a in argv if not a.startswith("-")), None)
    return first if first in COMMANDS else None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = _chosen(argv)
    try:
        parser = build_parser(load=(chosen,) if chosen else ())
    except extras.MissingExtra as exc:
        print(f"clusterdns {chosen}: {exc}", file=sys.stderr)
        return 1
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except ClusterDNSError as exc:
        print(f"clusterdns {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
