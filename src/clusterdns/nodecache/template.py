"""Filling the nodelocaldns base Corefile's ``__PILLAR__`` values, as node-cache does.

Facts from kubernetes/dns ``cmd/node-cache/app/configmap.go`` (``updateCorefile``):

* ``__PILLAR__UPSTREAM__SERVERS__`` becomes ``/etc/resolv.conf`` when no upstream
  nameservers are configured (the forward plugin reads that file).  With explicit
  upstreams node-cache turns a ``forward . __PILLAR__UPSTREAM__SERVERS__ { force_tcp }``
  block into plain (UDP) ``forward . SERVERS`` -- only when the block is written
  exactly as node-cache's own (its own line, ``forward`` indented 4 spaces,
  ``force_tcp`` 12, ``}`` 4); any other spelling keeps ``force_tcp`` and only the
  servers are filled in, as node-cache's plain text replacement does.
* The rest is text replacement too: nothing is trimmed, so
  ``bind __PILLAR__LOCAL__DNS__ __PILLAR__DNS__SERVER__`` keeps its trailing space.
* ``__PILLAR__CLUSTER__DNS__`` becomes the upstream Service's ClusterIP.  node-cache
  writes ``<nil>`` when it has none; we refuse, naming the line, since such a
  Corefile cannot run.  A template without this pillar needs no address.
* ``__PILLAR__LOCAL__DNS__`` becomes every ``-localip`` address, space-separated,
  and ``__PILLAR__DNS__SERVER__`` is then removed: the listen addresses are all
  in ``-localip`` already.
* ``__PILLAR__UPSTREAM__SERVERS__`` takes the kube-dns ConfigMap's
  ``upstreamNameservers`` first, and each of its ``stubDomains`` becomes a server
  block appended to the result (``nodecache/kubednscm.py``).
* ``__PILLAR__DNS__DOMAIN__`` is left to the deploy step's ``sed`` by node-cache;
  we fill it from ``-domain`` so the embedded template runs as it is.

Pure text in, text out: reading and writing files is the app's job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from clusterdns.nodecache.kubednscm import KubeDNSConfig, stub_domain_blocks
from clusterdns.nodecache.params import NodeCacheError

UPSTREAM_SERVERS = "__PILLAR__UPSTREAM__SERVERS__"
CLUSTER_DNS = "__PILLAR__CLUSTER__DNS__"
LOCAL_DNS = "__PILLAR__LOCAL__DNS__"
DNS_SERVER = "__PILLAR__DNS__SERVER__"
DNS_DOMAIN = "__PILLAR__DNS__DOMAIN__"
DEFAULT_UPSTREAM = "/etc/resolv.conf"

# configmap.go's upstreamTCPBlock, byte for byte: the only spelling turned into plain forward.
_TCP_UPSTREAM_BLOCK = "\n    forward . " + UPSTREAM_SERVERS + " {\n            force_tcp\n    }\n"
# An address:port use (``health __PILLAR__LOCAL__DNS__:8080``) takes one address, not the list.
_LOCAL_DNS_WITH_PORT = re.compile(LOCAL_DNS + r"(?=:\d)")
_PILLAR = re.compile(r"__PILLAR__[A-Z_]+?__(?![A-Z])")
_KNOWN = frozenset((UPSTREAM_SERVERS, CLUSTER_DNS, LOCAL_DNS, DNS_SERVER, DNS_DOMAIN))


@dataclass(frozen=True, slots=True)
class Pillars:
    local_ips: tuple[str, ...]
    #: None when the upstream Service's address is unknown; ``cluster_dns_missing`` says why.
    cluster_dns: str | None
    upstream_servers: tuple[str, ...] = ()
    domain: str = "cluster.local"
    cluster_dns_missing: str = ""
    #: the kube-dns ConfigMap (``-kubednscm``): stub domains and upstream nameservers
    kubedns: KubeDNSConfig = KubeDNSConfig()
    #: the port of the stub domains' server blocks (node-cache's local port)
    port: int = 53


def embedded_base_corefile() -> str:
    return resources.files("clusterdns.nodecache").joinpath("Corefile.base").read_text()


def fill(template: str, pillars: Pillars, filename: str = "Corefile.base") -> str:
    """The Corefile node-cache would write from ``template``; every ``__PILLAR__`` must be filled."""
    _refuse_unknown_pillars(template, filename)  # checked before filling: lines are the template's
    if pillars.cluster_dns is None:
        _refuse_unknown_cluster_dns(template, pillars.cluster_dns_missing, filename)
    upstreams = pillars.kubedns.upstream_nameservers or pillars.upstream_servers
    text = _fill_upstream(template, upstreams)
    if pillars.cluster_dns is not None:
        text = text.replace(CLUSTER_DNS, pillars.cluster_dns)
    text = _LOCAL_DNS_WITH_PORT.sub(_host_for_port(pillars.local_ips[0]), text)
    text = text.replace(LOCAL_DNS, " ".join(pillars.local_ips))
    text = text.replace(DNS_SERVER, "")
    text = text.replace(DNS_DOMAIN, pillars.domain.strip(".") or ".")
    return text + stub_domain_blocks(pillars.kubedns, pillars.local_ips, pillars.port)


def _fill_upstream(template: str, servers: tuple[str, ...]) -> str:
    if not servers:
        return template.replace(UPSTREAM_SERVERS, DEFAULT_UPSTREAM)
    joined = " ".join(servers)
    # node-cache: "Use UDP to connect to custom upstream DNS servers."
    text = template.replace(_TCP_UPSTREAM_BLOCK, f"\n    forward . {joined}\n")
    return text.replace(UPSTREAM_SERVERS, joined)


def _host_for_port(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


def _refuse_unknown_cluster_dns(text: str, why: str, filename: str) -> None:
    for number, line in enumerate(text.splitlines(), 1):
        if CLUSTER_DNS in line.split("#", 1)[0]:
            raise NodeCacheError(
                f"{filename}:{number}: {CLUSTER_DNS} needs the cluster DNS address, "
                f"but {why or 'none is known; pass -clusterdns IP'}"
            )


def _refuse_unknown_pillars(text: str, filename: str) -> None:
    for number, line in enumerate(text.splitlines(), 1):
        for match in _PILLAR.finditer(line.split("#", 1)[0]):
            if match.group(0) in _KNOWN:
                continue
            raise NodeCacheError(
                f"{filename}:{number}: {match.group(0)} is not a value node-cache fills "
                "(known: __PILLAR__LOCAL__DNS__, __PILLAR__DNS__SERVER__, __PILLAR__DNS__DOMAIN__, "
                "__PILLAR__CLUSTER__DNS__, __PILLAR__UPSTREAM__SERVERS__); replace it in the base Corefile"
            )
