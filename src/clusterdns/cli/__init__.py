"""The ``clusterdns`` command: one small module per subcommand, no logic of its own.

Each module in this package that defines ``COMMAND`` (its name), ``HELP`` (one
line), ``add_arguments(parser)`` and ``run(args) -> int`` is a subcommand.
Flags follow the tool users already know (CoreDNS's ``-conf``, dnsperf's, the
node cache's ``-localip``), so single-dash long flags are allowed.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType

from rich_argparse import RawDescriptionRichHelpFormatter

from clusterdns import __version__
from clusterdns.errors import ClusterDNSError


def _command_modules() -> list[ModuleType]:
    modules = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "COMMAND"):
            modules.append(module)
    return modules


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clusterdns",
        description="Kubernetes cluster DNS: a CoreDNS-compatible server, a node-local cache, "
        "and the tools to find out why DNS in a cluster misbehaves.",
        formatter_class=RawDescriptionRichHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"clusterdns {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _command_modules():
        command = sub.add_parser(
            module.COMMAND,
            help=module.HELP,
            description=getattr(module, "DESCRIPTION", module.HELP),
            formatter_class=RawDescriptionRichHelpFormatter,
        )
        module.add_arguments(command)
        command.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
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
