"""clusterdns explain: every query an application's resolver sends for one name."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import dns.rcode
from rich.console import Console
from rich.table import Table

from clusterdns.doctor.inprocess import cluster_server
from clusterdns.errors import ClusterDNSError
from clusterdns.podconfig.kubelet import (
    SAMPLE_HOST_RESOLV_CONF,
    Kubelet,
    parse_host_resolv_conf,
    pod_dns,
)
from clusterdns.podconfig.manifest import PodDNSSpec, load_pods
from clusterdns.resolver.client import Client, parse_server
from clusterdns.resolver.explain import Advice, Explanation, explain, plan
from clusterdns.resolver.resolvconf import Libc, ResolvConf, parse

DESCRIPTION = """\
Walk NAME through the search list the way glibc or musl does, like `host -v`: every
query in order with its server, rcode or answer and time, then the totals and advice
(trailing dot, ndots, autopath, node cache).  The resolv.conf comes from --resolv-conf,
from a pod manifest (--pod, as the kubelet would write it), or by default from a
ClusterFirst pod in `default`.  Queries go only to --server, or with --cluster FILE to a
clusterdns started in this process on 127.0.0.1 that serves that cluster manifest (names
outside the cluster domain are REFUSED there: it has no upstream); --dry-run sends nothing.
The machine's own resolver is never used.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--resolv-conf", metavar="FILE", help="a resolv.conf to use")
    source.add_argument("--pod", metavar="MANIFEST", help="use the resolv.conf of this pod")
    parser.add_argument("--libc", choices=[lib.value for lib in Libc], default="glibc")
    parser.add_argument(
        "--server", metavar="HOST:PORT", help="the DNS server that answers every nameserver line"
    )
    parser.add_argument(
        "--cluster",
        metavar="CLUSTER.yaml",
        help="answer from an in-process clusterdns serving this manifest (instead of --server)",
    )
    parser.add_argument(
        "--domain", default="cluster.local", help="cluster domain for --cluster (cluster.local)"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the planned queries only")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def load_conf(args: argparse.Namespace) -> ResolvConf:
    if args.resolv_conf:
        return parse(_read(args.resolv_conf))
    kubelet = Kubelet(host=parse_host_resolv_conf(SAMPLE_HOST_RESOLV_CONF))
    if args.pod:
        pods = load_pods(_read(args.pod), args.pod)
        if len(pods) > 1:
            refs = ", ".join(p.ref for p in pods)
            raise ClusterDNSError(
                f"{args.pod}: holds {len(pods)} pods ({refs}); give a file with one"
            )
        pod = pods[0]
    else:
        pod = PodDNSSpec("Pod", "default", "explain", "ClusterFirst", False, None)
    try:
        return parse(pod_dns(pod, kubelet).to_text())
    except ValueError as exc:
        raise ClusterDNSError(str(exc)) from exc


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise ClusterDNSError(f"cannot read {path}: {exc.strerror}") from exc


def run(args: argparse.Namespace) -> int:
    conf = load_conf(args)
    libc = Libc(args.libc)
    if args.dry_run:
        result = plan(args.name, conf, libc)
    elif args.cluster:
        if args.server:
            raise ClusterDNSError("give --server or --cluster, not both")
        result = explain_with_cluster(args.name, conf, libc, args.cluster, args.domain)
    else:
        if not args.server:
            raise ClusterDNSError("--server HOST:PORT is required (or --dry-run to send nothing)")
        try:
            address = parse_server(args.server)
        except ValueError as exc:
            raise ClusterDNSError(f"--server {args.server!r}: expected HOST:PORT") from exc
        try:
            result = explain(args.name, conf, libc, Client(address))
        except ValueError as exc:
            raise ClusterDNSError(str(exc)) from exc
    if args.json:
        print(json.dumps(to_json(result), indent=2))
    else:
        render(result, Console(highlight=False))
    return 0 if result.dry_run or result.found else 1


REFUSED = 5
CLUSTER_NOTE = (
    "the in-process server answers only {domain} and its reverse zones from {manifest}; "
    "it has no upstream, so other names get REFUSED (a real cluster DNS would forward them)"
)


def explain_with_cluster(
    name: str, conf: ResolvConf, libc: Libc, manifest: str, domain: str
) -> Explanation:
    """Explain ``name`` against a clusterdns serving ``manifest`` on 127.0.0.1 in this process."""
    if not Path(manifest).exists():
        raise ClusterDNSError(f"--cluster {manifest}: no such file")
    with cluster_server(manifest, domain) as server:
        try:
            result = explain(name, conf, libc, Client(server.address))
        except ValueError as exc:
            raise ClusterDNSError(str(exc)) from exc
    if any(e.rcode == REFUSED for e in result.exchanges):
        note = Advice("cluster", CLUSTER_NOTE.format(domain=domain, manifest=manifest))
        result = dataclasses.replace(result, advice=(*result.advice, note))
    return result


def _rcode(value: int | None, error: str | None) -> str:
    return error or "no reply" if value is None else dns.rcode.to_text(dns.rcode.Rcode(value))


def to_json(x: Explanation) -> dict[str, object]:
    return {
        "name": x.name,
        "libc": x.libc.value,
        "mode": x.mode.value,
        "ndots": x.eff.ndots,
        "search": list(x.eff.search),
        "dryRun": x.dry_run,
        "steps": [
            {
                "name": s.candidate.name,
                "origin": s.candidate.origin,
                "verdict": s.verdict.value if s.verdict else None,
                "reason": s.reason,
            }
            for s in x.steps
        ],
        "queries": [
            {
                "name": e.name,
                "type": e.qtype,
                "nameserver": e.nameserver,
                "server": e.server,
                "transport": e.transport,
                "sourcePort": e.source_port,
                "rcode": _rcode(e.rcode, e.error),
                "answers": list(e.answers),
                "truncated": e.truncated,
                "ms": round(e.elapsed * 1000, 3),
            }
            for e in x.exchanges
        ],
        "found": x.found.name if x.found and not x.dry_run else None,
        "addresses": list(x.addresses),
        "sent": x.sent,
        "wasted": x.wasted,
        "ms": round(x.elapsed * 1000, 3),
        "advice": [{"kind": a.kind, "text": a.text, "snippet": a.snippet} for a in x.advice],
    }


def render(x: Explanation, console: Console) -> None:
    console.print(
        f";; {x.libc.value}: ndots:{x.eff.ndots}, search {' '.join(x.eff.search) or '(none)'}, "
        f"A/AAAA {x.mode.value}"
        + (f", ignored options: {' '.join(x.eff.ignored)}" if x.eff.ignored else "")
    )
    table = Table(box=None, pad_edge=False)
    for column in ("#", "name", "type", "server", "result", "time"):
        table.add_column(
            column, justify="right" if column in ("#", "time") else "left", overflow="fold"
        )
    if x.dry_run:
        n = 0
        for step in x.steps:
            for qtype in ("A",) if x.eff.no_aaaa else ("A", "AAAA"):
                n += 1
                table.add_row(
                    str(n),
                    step.candidate.name,
                    qtype,
                    ", ".join(x.eff.nameservers),
                    "(not sent)",
                    "",
                )
    else:
        for n, e in enumerate(x.exchanges, 1):
            result = " ".join(e.answers) if e.answers else _rcode(e.rcode, e.error)
            if e.rcode == 0 and not e.answers:
                result = "NOERROR (no data)"
            if e.truncated:
                result += " (truncated, retry over TCP)"
            server = f"{e.nameserver} via {e.server}/{e.transport}"
            table.add_row(str(n), e.name, e.qtype, server, result, f"{e.elapsed * 1000:.1f} ms")
    console.print(table)
    if x.dry_run:
        console.print(
            f";; planned: {x.sent} queries if every name before the last is NXDOMAIN; "
            f"{x.wasted} before the name as given"
        )
    else:
        outcome = (
            f"answered by {x.found.name}" if x.found else "no address (" + x.steps[-1].reason + ")"
        )
        console.print(
            f";; {outcome}; {x.sent} queries sent, {x.wasted} wasted, {x.elapsed * 1000:.1f} ms"
        )
    for advice in x.advice:
        console.print(f"\n[bold]{advice.kind}[/bold]: {advice.text}")
        if advice.snippet:
            console.print(advice.snippet, markup=False, end="")
