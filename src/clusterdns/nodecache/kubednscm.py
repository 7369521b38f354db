"""The kube-dns ConfigMap, as node-cache reads it from ``-kubednscm`` (default ``/etc/kube-dns``).

Facts from kubernetes/dns ``cmd/node-cache/app/configmap.go`` and ``pkg/dns/config``:

* the ConfigMap is mounted as a directory, one file per key; node-cache reads
  ``stubDomains`` (JSON: domain -> list of nameservers) and
  ``upstreamNameservers`` (JSON: list of nameservers, at most three);
* with no ``-kubednscm``, ``/etc/kube-dns`` is used when it exists, else the
  kube-dns ConfigMap is not synced at all;
* every stub domain becomes a server block of its own appended to the filled
  base (``stubDomainBlock``: ``errors``, ``cache 30``, ``bind`` the local IPs,
  ``forward . SERVERS``) on the local port;
* ``upstreamNameservers`` fills ``__PILLAR__UPSTREAM__SERVERS__`` (over UDP; the
  template module turns a ``force_tcp`` upstream block into plain ``forward``);
  without them it is ``/etc/resolv.conf``;
* a config that does not validate is logged and the running Corefile kept.

``parse`` is pure (file contents in, config out); ``read_dir`` reads the files.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from clusterdns.dns.names import split_ip_port
from clusterdns.nodecache.params import NodeCacheError

DEFAULT_KUBEDNS_CM = "/etc/kube-dns"
STUB_DOMAINS = "stubDomains"
UPSTREAM_NAMESERVERS = "upstreamNameservers"
#: configmap.go ``defaultTTL``: the cache TTL of a stub domain's block
STUB_CACHE_TTL = 30
MAX_UPSTREAMS = 3  # pkg/dns/config validateUpstreamNameserver

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


@dataclass(frozen=True, slots=True)
class KubeDNSConfig:
    #: (domain, servers) in the order of the file
    stub_domains: tuple[tuple[str, tuple[str, ...]], ...] = ()
    upstream_nameservers: tuple[str, ...] = ()


def kubedns_dir(flag: str | None) -> str | None:
    """``-kubednscm``, or ``/etc/kube-dns`` when the flag is not given and that directory exists."""
    if flag:
        return flag
    return DEFAULT_KUBEDNS_CM if os.path.exists(DEFAULT_KUBEDNS_CM) else None


def read_dir(directory: str) -> KubeDNSConfig:
    """The config in a mounted ConfigMap directory; a missing key is an empty value."""
    files: dict[str, str] = {}
    for key in (STUB_DOMAINS, UPSTREAM_NAMESERVERS):
        path = os.path.join(directory, key)
        try:
            with open(path, encoding="utf-8") as handle:
                files[key] = handle.read()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise NodeCacheError(f"-kubednscm: cannot read {path}: {exc.strerror}") from exc
    return parse(files, directory)


def parse(files: Mapping[str, str], directory: str = DEFAULT_KUBEDNS_CM) -> KubeDNSConfig:
    """Validate as kube-dns's config package does; NodeCacheError names the file and the value."""
    stubs: list[tuple[str, tuple[str, ...]]] = []
    text = files.get(STUB_DOMAINS, "").strip()
    where = os.path.join(directory, STUB_DOMAINS)
    if text:
        data = _json(text, where)
        if not isinstance(data, dict):
            raise NodeCacheError(f"{where}: expected a JSON object of domain: [nameservers]")
        for domain, servers in data.items():
            if not _is_subdomain(domain):
                raise NodeCacheError(f"{where}: invalid domain name: {domain!r}")
            if not isinstance(servers, list) or not servers:
                raise NodeCacheError(f"{where}: {domain}: expected a list of nameservers")
            stubs.append((domain.rstrip("."), tuple(_nameserver(s, where) for s in servers)))
    upstreams: tuple[str, ...] = ()
    text = files.get(UPSTREAM_NAMESERVERS, "").strip()
    where = os.path.join(directory, UPSTREAM_NAMESERVERS)
    if text:
        data = _json(text, where)
        if not isinstance(data, list):
            raise NodeCacheError(f"{where}: expected a JSON list of nameservers")
        if len(data) > MAX_UPSTREAMS:
            raise NodeCacheError(f"{where}: upstreamNameserver cannot have more than three entries")
        upstreams = tuple(_nameserver(s, where) for s in data)
    return KubeDNSConfig(tuple(stubs), upstreams)


def stub_domain_blocks(config: KubeDNSConfig, local_ips: tuple[str, ...], port: int) -> str:
    """One server block per stub domain, appended to the filled base (``stubDomainBlock``)."""
    blocks = []
    for domain, servers in config.stub_domains:
        blocks.append(
            f"\n{domain}:{port} {{\n"
            "    errors\n"
            f"    cache {STUB_CACHE_TTL}\n"
            f"    bind {' '.join(local_ips)}\n"
            f"    forward . {' '.join(servers)}\n"
            "}\n"
        )
    return "".join(blocks)


def _json(text: str, where: str) -> object:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise NodeCacheError(f"{where}: not JSON: {exc}") from None


def _is_subdomain(name: str) -> bool:
    name = name.rstrip(".")
    return (
        0 < len(name) <= 253
        and name == name.lower()
        and all(len(label) <= 63 and _DNS1123_LABEL.fullmatch(label) for label in name.split("."))
    )


def _nameserver(value: object, where: str) -> str:
    """``IP``, ``IP:PORT`` or ``[IPv6]:PORT`` (the forward plugin's forms)."""
    if not isinstance(value, str):
        raise NodeCacheError(f"{where}: invalid nameserver: {value!r}")
    try:
        split_ip_port(value, 53)
    except ValueError:
        raise NodeCacheError(f"{where}: invalid nameserver: {value!r}") from None
    return value
