"""clusterdns resolvconf: the /etc/resolv.conf the kubelet would write for a pod."""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
from pathlib import Path

from clusterdns.errors import ClusterDNSError, ManifestError
from clusterdns.podconfig.kubelet import (
    SAMPLE_HOST_RESOLV_CONF,
    HostResolvConfError,
    Kubelet,
    PodDNS,
    PodDNSInvalid,
    check_limits_for_resolv_conf,
    parse_host_resolv_conf,
    pod_dns,
)
from clusterdns.podconfig.manifest import load_pods

DESCRIPTION = """\
Print the /etc/resolv.conf the kubelet would give each pod in MANIFEST (Pod, Deployment,
StatefulSet, DaemonSet, ReplicaSet, Job, CronJob; multi-document YAML or a List), following
dnsPolicy, hostNetwork, dnsConfig and the kubelet's limits.  The node's resolv.conf is a
built-in sample unless --host-resolv-conf is given (the machine's own file is never read
unless you name it).  Pods the API server would reject are reported and the exit code is 1.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifest", metavar="MANIFEST", help="YAML file, or - for stdin")
    parser.add_argument(
        "--cluster-dns",
        default="10.96.0.10",
        metavar="IP,...",
        help="kubelet --cluster-dns (default 10.96.0.10; '' for none)",
    )
    parser.add_argument(
        "--cluster-domain", default="cluster.local", help="kubelet --cluster-domain"
    )
    parser.add_argument(
        "--host-resolv-conf",
        metavar="FILE",
        default=None,
        help="the node's resolv.conf (kubelet --resolv-conf); '' for none; default: a built-in sample",
    )
    parser.add_argument(
        "--node-ip",
        default="",
        metavar="IP,...",
        help="kubelet --node-ip: with --host-resolv-conf '', ::1 for each IPv6 one (else 127.0.0.1)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _read(path: str) -> str:
    try:
        return sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as exc:
        raise ClusterDNSError(f"cannot read {path}: {exc.strerror}") from exc


def _ips(flag: str, value: str) -> tuple[str, ...]:
    """A comma-separated IP list flag; the kubelet refuses to start on a bad one."""
    ips = tuple(ip.strip() for ip in value.split(",") if ip.strip())
    for ip in ips:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise ClusterDNSError(f"{flag}: {ip!r} is not an IP address") from None
    return ips


def kubelet_from_args(args: argparse.Namespace) -> Kubelet:
    cluster_dns = _ips("--cluster-dns", args.cluster_dns)
    if args.host_resolv_conf is None:
        host = parse_host_resolv_conf(SAMPLE_HOST_RESOLV_CONF)
    elif args.host_resolv_conf == "":
        host = None
    else:
        try:
            host = parse_host_resolv_conf(_read(args.host_resolv_conf))
        except HostResolvConfError as exc:
            # The kubelet fails the DNS set-up of every pod on such a node.
            raise ClusterDNSError(f"{args.host_resolv_conf}: {exc}") from exc
    return Kubelet(cluster_dns, args.cluster_domain, host, _ips("--node-ip", args.node_ip))


def run(args: argparse.Namespace) -> int:
    kubelet = kubelet_from_args(args)
    if kubelet.host is not None and args.host_resolv_conf:
        for warning in check_limits_for_resolv_conf(kubelet.host, kubelet.cluster_domain):
            print(f"warning: {args.host_resolv_conf}: {warning}", file=sys.stderr)
    source = "<stdin>" if args.manifest == "-" else args.manifest
    pods = load_pods(_read(args.manifest), source)
    results: list[PodDNS] = []
    errors: list[PodDNSInvalid] = []
    for pod in pods:
        try:
            results.append(pod_dns(pod, kubelet))
        except PodDNSInvalid as exc:
            errors.append(exc)
    if args.json:
        print(json.dumps([_json(r) for r in results] + [_json_error(e) for e in errors], indent=2))
    else:
        _print_text(results, many=len(pods) > 1)
    for invalid in errors:
        where = f"{invalid.pod.source}: {invalid.pod.ref}"
        for error in invalid.errors:
            print(f"clusterdns resolvconf: {where}: {error}", file=sys.stderr)
    if errors and not results and not args.json:
        raise ManifestError(f"{source}: no pod here would be accepted by the API server")
    return 1 if errors else 0


def _print_text(results: list[PodDNS], many: bool) -> None:
    for i, result in enumerate(results):
        if many:
            print(("\n" if i else "") + f"# {result.pod.ref}")
        sys.stdout.write(result.to_text())
        for warning in result.warnings:
            print(f"warning: {result.pod.ref}: {warning}", file=sys.stderr)


def _json(result: PodDNS) -> dict[str, object]:
    return {
        "kind": result.pod.kind,
        "namespace": result.pod.namespace,
        "name": result.pod.name,
        "dnsPolicy": result.pod.dns_policy,
        "hostNetwork": result.pod.host_network,
        "applied": result.policy_applied,
        "nameservers": list(result.nameservers),
        "searches": list(result.searches),
        "options": [{"name": n, "value": v} for n, v in result.options],
        "warnings": list(result.warnings),
        "resolvConf": result.to_text(),
    }


def _json_error(exc: PodDNSInvalid) -> dict[str, object]:
    return {
        "kind": exc.pod.kind,
        "namespace": exc.pod.namespace,
        "name": exc.pod.name,
        "errors": list(exc.errors),
    }
