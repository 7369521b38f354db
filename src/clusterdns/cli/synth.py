"""``clusterdns synth``: write a large synthetic cluster as one kubectl-shaped manifest."""

from __future__ import annotations

import argparse
import json
from collections import Counter

from rich.console import Console
from rich.table import Table

from clusterdns.cluster.synthetic import generate, write
from clusterdns.errors import ClusterDNSError

DESCRIPTION = """\
Write a deterministic cluster of --services services spread over --namespaces namespaces
(ns-0, ns-1...), each with an EndpointSlice of --endpoints endpoints, as one `kind: List`
that `kubernetes { manifests FILE }` serves.  Every 10th service is headless, every 25th an
ExternalName, the rest ClusterIP.  With --pods a Running Pod backs every endpoint.
A .json output loads several times faster than YAML at tens of thousands of services.
"""


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--namespaces", type=_non_negative, default=10, metavar="N", help="namespaces (default 10)"
    )
    parser.add_argument(
        "--services", type=_non_negative, default=1000, metavar="N", help="services (default 1000)"
    )
    parser.add_argument(
        "--endpoints",
        type=_non_negative,
        default=3,
        metavar="N",
        help="endpoints per service (default 3)",
    )
    parser.add_argument("--pods", action="store_true", help="also write a Pod per endpoint")
    parser.add_argument(
        "--output",
        "-o",
        required=True,
        metavar="FILE",
        help="FILE.json for JSON, any other name (FILE.yaml) for YAML",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable summary")


def run(args: argparse.Namespace) -> int:
    try:
        objects = generate(args.namespaces, args.services, args.endpoints, args.pods)
    except ValueError as exc:
        raise ClusterDNSError(f"{exc}; lower --services or --endpoints") from exc
    try:
        path = write(objects, args.output)
    except OSError as exc:
        raise ClusterDNSError(f"cannot write {args.output}: {exc.strerror}") from exc
    kinds = Counter(str(obj.get("kind")) for obj in objects)
    if args.json:
        print(json.dumps({"file": str(path), "kinds": dict(kinds)}, indent=2))
    else:
        _print_summary(str(path), kinds)
    return 0


def _print_summary(path: str, kinds: Counter[str]) -> None:
    table = Table(title=path)
    table.add_column("kind")
    table.add_column("objects", justify="right")
    for kind, count in kinds.items():
        table.add_row(kind, str(count))
    Console().print(table)
