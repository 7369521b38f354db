"""clusterdns doctor: diagnose cluster DNS from where you stand (pod, node, laptop)."""

from __future__ import annotations

import argparse
import json

from rich.console import Console

from clusterdns.doctor.diagnose import DoctorOptions, diagnose
from clusterdns.doctor.findings import Severity
from clusterdns.doctor.render import render, to_json

DESCRIPTION = """\
Read resolv.conf, name the dnsPolicy it implies and its search/ndots cost, resolve
kubernetes.default.svc.<domain> through every nameserver and DNS replica, run a short
glibc-like bench (parallel A/AAAA, single-request-reopen, TCP) to find the conntrack race
and its 5 s (glibc) or 2.5 s (musl) stalls, read conntrack statistics, tell glibc from musl,
and check a Corefile for known traps.  Each finding has a severity, its evidence and a fix.
Only loopback addresses are queried unless --probe-remote is given.  Exit status: 0 when
nothing is worse than info, 1 on warnings, 2 on errors.
"""


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--resolv-conf", metavar="FILE", default="/etc/resolv.conf")
    parser.add_argument(
        "--server", metavar="HOST:PORT", help="the server that answers every nameserver line"
    )
    parser.add_argument("--replicas", metavar="HOST:PORT,...", type=_csv, default=[],
                        help="DNS replicas to ask one by one")  # fmt: skip
    parser.add_argument("--cluster", metavar="CLUSTER.yaml",
                        help="a cluster manifest: its kube-dns endpoints are the replicas")  # fmt: skip
    parser.add_argument("--name", action="append", default=[], dest="names",
                        help="another name to resolve (repeatable)")  # fmt: skip
    parser.add_argument("--domain", help="cluster domain (default: from the search list)")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds per try (default 2)")
    parser.add_argument("--bench-seconds", type=float, default=2.0,
                        help="length of the bench, 0 to skip (default 2)")  # fmt: skip
    parser.add_argument("--proc-root", default="/proc", metavar="DIR")
    parser.add_argument(
        "--root", default="/", metavar="DIR", help="image root to tell glibc from musl"
    )
    parser.add_argument("--libc", choices=["glibc", "musl"], help="do not detect, assume this libc")
    parser.add_argument("--corefile", metavar="FILE", help="a Corefile to check for known traps")
    parser.add_argument("--host-resolv-conf", metavar="FILE",
                        help="the node's resolv.conf, that 'forward . /etc/resolv.conf' reads")  # fmt: skip
    parser.add_argument("--probe-remote", action="store_true",
                        help="also query nameservers and replicas that are not on loopback")  # fmt: skip
    parser.add_argument("--metrics", metavar="URL",
                        help="a clusterdns /metrics URL: which namespaces and names waste queries on the search list")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    options = DoctorOptions(
        resolv_conf=args.resolv_conf,
        server=args.server,
        replicas=tuple(args.replicas),
        cluster=args.cluster,
        names=tuple(args.names),
        domain=args.domain,
        timeout=args.timeout,
        bench_seconds=args.bench_seconds,
        proc_root=args.proc_root,
        root=args.root,
        libc=args.libc,
        corefile=args.corefile,
        host_resolv_conf=args.host_resolv_conf,
        probe_remote=args.probe_remote,
        metrics=args.metrics,
    )
    report = diagnose(options)
    if args.json:
        print(json.dumps(to_json(report), indent=2))
    else:
        render(report, Console(highlight=False))
    return {Severity.ERROR: 2, Severity.WARN: 1}.get(report.worst, 0)
