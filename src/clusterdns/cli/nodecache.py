"""``clusterdns nodecache``: the NodeLocal DNSCache agent, with k8s-dns-node-cache's flags."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys

from clusterdns.errors import ClusterDNSError
from clusterdns.nodecache.app import NodeCache, load_corefile, pillars_for, run_until_signalled
from clusterdns.nodecache.kubednscm import DEFAULT_KUBEDNS_CM
from clusterdns.nodecache.params import (
    DEFAULT_BASE_COREFILE,
    DEFAULT_COREFILE,
    NodeCacheError,
    NodeCacheParams,
    parse_bool,
    parse_local_ips,
    parse_server,
    parse_sync_interval,
    parse_upstream_servers,
)
from clusterdns.nodecache.rules import node_cache_rules
from clusterdns.server.cpus import default_workers
from clusterdns.server.run import configure_logging, install_event_loop
from clusterdns.server.workers import check_workers

DESCRIPTION = """Run the NodeLocal DNSCache agent, as k8s-dns-node-cache does.

-conf is the Corefile that runs. When -basecorefile can be read, it is filled
first and written to -conf (and filled again whenever it changes, checked every
10 s): __PILLAR__LOCAL__DNS__ from -localip, __PILLAR__CLUSTER__DNS__ from
-clusterdns or env <UPSTREAMSVC>_SERVICE_HOST, __PILLAR__UPSTREAM__SERVERS__ from
the kube-dns ConfigMap's upstreamNameservers (-kubednscm, default /etc/kube-dns
when it exists), else -upstream-servers or /etc/resolv.conf, __PILLAR__DNS__DOMAIN__
from -domain; each of the ConfigMap's stubDomains becomes a server block forwarding
to its servers. Both directories are read again every 10 s.
When it cannot be read, a warning says so and -conf runs as it is. A missing
upstream Service address is a warning until a template needs it.
--embedded-base (ours, not node-cache's) fills the embedded template from
Kubernetes' nodelocaldns.yaml instead; without -conf it is then served from memory.
With -setupinterface it puts the local IPs on a dummy interface; with -setupiptables
it adds the NOTRACK/ACCEPT rules; both are checked every -syncinterval and removed
on exit unless -skipteardown. Boolean flags take Go's form: -setupiptables=false.
--print-config prints the Corefile that would run and the rules (--json for JSON) and exits."""


def _flag(parser: argparse.ArgumentParser, name: str, **kwargs: object) -> None:
    parser.add_argument(f"-{name}", f"--{name}", **kwargs)  # type: ignore[arg-type]


def _bool(parser: argparse.ArgumentParser, name: str, default: bool, help: str) -> None:
    _flag(parser, name, dest=name.replace("-", "_"), nargs="?", const=True, default=default,
          type=_as_bool, metavar="BOOL", help=f"{help} (default {str(default).lower()})")  # fmt: skip


def _as_bool(text: str) -> bool:
    try:
        return parse_bool(text)
    except ClusterDNSError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _flag(parser, "localip", required=True, metavar="IP[,IP]",
          help="comma-separated addresses to listen on, e.g. 169.254.20.10,10.96.0.10")  # fmt: skip
    _flag(parser, "conf", metavar="FILE",
          help=f"the Corefile that runs; a readable -basecorefile is filled into it first "
               f"(default {DEFAULT_COREFILE})")  # fmt: skip
    _flag(parser, "corefile", dest="conf", metavar="FILE",
          help="same as -conf (node-cache's own name)")  # fmt: skip
    _flag(parser, "basecorefile", metavar="FILE",
          help=f"the template filled into -conf; when it cannot be read, -conf runs as it is "
               f"(default {DEFAULT_BASE_COREFILE})")  # fmt: skip
    parser.add_argument("--embedded-base", dest="embedded_base", action="store_true",
                        help="clusterdns only, not a node-cache flag: fill the embedded nodelocaldns "
                             "template instead of -basecorefile (served from memory without -conf)")  # fmt: skip
    _flag(parser, "upstreamsvc", default="kube-dns", metavar="NAME",
          help="Service whose ClusterIP (env NAME_SERVICE_HOST) is __PILLAR__CLUSTER__DNS__")  # fmt: skip
    _flag(
        parser,
        "clusterdns",
        metavar="IP[:PORT]",
        help="cluster DNS address (instead of the env var)",
    )
    _flag(parser, "upstream-servers", dest="upstream_servers", action="append", default=[], metavar="IP[:PORT],...",
          help="servers for '.' (instead of /etc/resolv.conf)")  # fmt: skip
    _flag(
        parser, "domain", default="cluster.local", metavar="DOMAIN", help="__PILLAR__DNS__DOMAIN__"
    )
    _flag(parser, "kubednscm", default="", metavar="DIR",
          help=f"the mounted kube-dns ConfigMap: stubDomains become server blocks, "
               f"upstreamNameservers fill __PILLAR__UPSTREAM__SERVERS__ (default {DEFAULT_KUBEDNS_CM}, "
               f"used when it exists)")  # fmt: skip
    _flag(parser, "health-port", dest="health_port", type=int, default=8080, metavar="N",
          help="health plugin port, for the liveness-probe NOTRACK rules (default 8080)")  # fmt: skip
    _flag(parser, "metrics-listen-address", dest="metrics_listen_address", default="0.0.0.0:9353",
          metavar="ADDR", help="where node-cache's own metrics are served (default 0.0.0.0:9353)")  # fmt: skip
    _bool(parser, "setupinterface", True, "put the local IPs on the node on a dummy interface")
    _flag(
        parser, "interfacename", default="nodelocaldns", metavar="NAME", help="the interface's name"
    )
    _bool(parser, "setupiptables", True, "add the NOTRACK/ACCEPT iptables rules")
    _bool(parser, "skipteardown", False, "leave interface and rules in place on exit")
    _bool(parser, "reloadwithsignal", False,
          "reload the server after each write of -conf, rather than expecting the reload plugin")  # fmt: skip
    _flag(parser, "syncinterval", type=_as_interval, default=60.0, metavar="DURATION",
          help="how often interface and rules are checked: seconds or a Go duration (default 60)")  # fmt: skip
    _flag(parser, "dns.port", dest="port", type=int, default=53, metavar="N",
          help="the DNS port, used in the iptables rules and for blocks that name none")  # fmt: skip
    _flag(parser, "pidfile", metavar="FILE", help="write the process id here once serving")
    _flag(parser, "workers", type=int, default=None, metavar="N",
          help="clusterdns only: serving processes on the same sockets (default: the CPUs this "
               "process may use, its affinity and cgroup CPU quota; 1: a single process)")  # fmt: skip
    _flag(
        parser, "quiet", action="store_true", help="CoreDNS's flag: accepted, no banner is printed"
    )
    parser.add_argument(
        "--print-config", action="store_true", help="print the Corefile and rules, then exit"
    )
    parser.add_argument("--json", action="store_true", help="with --print-config: JSON output")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def _as_interval(text: str) -> float:
    try:
        return parse_sync_interval(text)
    except ClusterDNSError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def params_from(args: argparse.Namespace) -> NodeCacheParams:
    if args.embedded_base and args.basecorefile is not None:
        raise NodeCacheError("give -basecorefile or --embedded-base, not both")
    if args.clusterdns:
        parse_server(args.clusterdns, "-clusterdns")
    return NodeCacheParams(
        local_ips=parse_local_ips(args.localip),
        port=args.port,
        interface_name=args.interfacename,
        setup_interface=args.setupinterface,
        setup_iptables=args.setupiptables,
        skip_teardown=args.skipteardown,
        sync_interval=args.syncinterval,
        health_port=args.health_port,
        metrics_listen_address=args.metrics_listen_address,
        base_corefile=args.basecorefile or DEFAULT_BASE_COREFILE,
        corefile=args.conf or (None if args.embedded_base else DEFAULT_COREFILE),
        embedded_base=args.embedded_base,
        upstream_svc=args.upstreamsvc,
        cluster_dns=args.clusterdns,
        upstream_servers=parse_upstream_servers(args.upstream_servers),
        domain=args.domain,
        pidfile=args.pidfile,
        reload_with_signal=args.reloadwithsignal,
        kubedns_cm=args.kubednscm or None,
    )


def print_config(params: NodeCacheParams, as_json: bool) -> None:
    corefile = load_corefile(params, pillars_for(params, os.environ))
    text = corefile.text
    rules = node_cache_rules(params.local_ips, params.port, params.health_port)
    if as_json:
        print(json.dumps({
            "corefile": text,
            "source": corefile.source,
            "filled": corefile.base is not None,
            "iptables": [{"table": r.table, "chain": r.chain, "args": list(r.args)} for r in rules]
            if params.setup_iptables else [],
            "interface": params.interface_name if params.setup_interface else None,
        }, indent=2))  # fmt: skip
        return
    print(text)
    if params.setup_iptables:
        print("# iptables rules (each ensured with -C, added with -I):")
        for rule in rules:
            print(rule.to_text())


def run(args: argparse.Namespace) -> int:
    configure_logging(args.verbose)
    params = params_from(args)
    if args.print_config:
        for handler in logging.getLogger().handlers:  # keep stdout for the config itself
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(sys.stderr)
        print_config(params, args.json)
        return 0
    try:
        workers = check_workers(args.workers if args.workers is not None else default_workers())
        cache = NodeCache(params, os.environ, workers=workers)
        cache.check()
    except ClusterDNSError as exc:
        print(f"clusterdns nodecache: {exc}", file=sys.stderr)
        return 1
    if workers == 1:  # with workers the supervisor keeps asyncio's own loop (server/workers.py)
        install_event_loop()
    try:
        asyncio.run(run_until_signalled(cache))
    except ClusterDNSError as exc:  # a listener that cannot bind, as `serve` reports it
        print(f"clusterdns nodecache: {exc}", file=sys.stderr)
        return 1
    return 0
