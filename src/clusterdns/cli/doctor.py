"""clusterdns doctor: diagnose cluster DNS from where you stand (pod, node, laptop)."""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console

from clusterdns.doctor.diagnose import DoctorOptions, diagnose
from clusterdns.doctor.findings import Severity
from clusterdns.doctor.node.diagnose import NodeOptions, diagnose_node
from clusterdns.doctor.node.render import render_node
from clusterdns.doctor.node.sources import Sources
from clusterdns.doctor.render import render, to_json

DESCRIPTION = """\
Read resolv.conf, name the dnsPolicy it implies and its search/ndots cost, resolve
kubernetes.default.svc.<domain> through every nameserver and DNS replica, run a short
glibc-like bench (parallel A/AAAA, single-request-reopen, TCP) to find the conntrack race
and its 5 s (glibc) or 2.5 s (musl) stalls, read conntrack statistics, tell glibc from musl,
and check a Corefile for known traps.  Each finding has a severity, its evidence and a fix.
Only loopback addresses are queried unless --probe-remote is given.  Exit status: 0 when
nothing is worse than info, 1 on warnings, 2 on errors.

`clusterdns doctor node` (on a node, as root, or in the privileged pod of
deploy/doctor-node/job.yaml) checks the kernel against the conntrack race fixes, the conntrack
table and UDP timeouts, the per-CPU insert_failed/drop/clashres counters sampled over
--interval (rising now vs counted long ago), kube-proxy's mode and its DNS rules
(--random-fully), IPVS conn_reuse_mode, NodeLocal DNSCache (NOTRACK rules, health) and the
pods' resolv.conf.  --trace SECONDS counts DNS packet drops by reason with bpftrace where
the kernel allows, and says what is missing where it does not.
"""


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("mode", nargs="?", choices=["node"],
                        help="node: check this node's kernel, conntrack and kube-proxy rules")  # fmt: skip
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
    node = parser.add_argument_group("node")
    node.add_argument("--interval", type=float, default=2.0,
                      help="seconds between the two conntrack counter samples (default 2)")  # fmt: skip
    node.add_argument("--trace", type=float, default=0.0, metavar="SECONDS",
                      help="count DNS packet drops by reason with bpftrace for SECONDS")  # fmt: skip
    node.add_argument("--commands", metavar="DIR",
                      help="read iptables-save / nft-list-ruleset outputs saved in DIR instead of running them")  # fmt: skip
    node.add_argument(
        "--no-health", action="store_true", help="do not GET the node cache's /health"
    )
    node.add_argument("--pod-resolv-conf", action="append", default=[], metavar="FILE",
                      help="a pod's resolv.conf to check besides the runtime's (repeatable)")  # fmt: skip


def run_node(args: argparse.Namespace) -> int:
    if args.trace < 0 or args.trace > 600 or args.interval < 0:
        print("doctor node: --trace must be 0..600 s, --interval >= 0", file=sys.stderr)
        return 2
    options = NodeOptions(
        sources=Sources(proc=args.proc_root, root=args.root, commands=args.commands),
        interval=args.interval,
        trace=args.trace,
        probe_health=not args.no_health,
        extra_resolv_confs=tuple(args.pod_resolv_conf),
    )
    report = diagnose_node(options)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        render_node(report, Console(highlight=False))
    return {Severity.ERROR: 2, Severity.WARN: 1}.get(report.worst, 0)


def run(args: argparse.Namespace) -> int:
    if args.mode == "node":
        return run_node(args)
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
