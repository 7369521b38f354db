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
* validation is ``Config.Validate`` then ``ValidateNodeLocalCacheConfig``: a stub
  domain is a DNS-1123 subdomain (lower case, no final dot), its servers ``IP`` or
  ``IP:PORT`` (``[v6]:PORT``, port 0-65535, no host names, no IPv6 zone); an
  upstream nameserver is ``IP`` or ``IP:PORT`` with port 1-65535; JSON ``null`` is
  an empty value;
* a config that does not validate is logged and the running Corefile kept.

``parse`` is pure (file contents in, config out); ``read_dir`` reads the files.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from clusterdns.nodecache.params import NodeCacheError, go_ip

DEFAULT_KUBEDNS_CM = "/etc/kube-dns"
STUB_DOMAINS = "stubDomains"
UPSTREAM_NAMESERVERS = "upstreamNameservers"
#: configmap.go ``defaultTTL``: the cache TTL of a stub domain's block
STUB_CACHE_TTL = 30
MAX_UPSTREAMS = 3  # pkg/dns/config validateUpstreamNameserver

_DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = re.compile(rf"{_DNS1123_LABEL}(\.{_DNS1123_LABEL})*")
MAX_SUBDOMAIN = 253


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
    data = _json(text, where) if text else None  # JSON null is no stub domains, as Go reads it
    if data is not None:
        if not isinstance(data, dict):
            raise NodeCacheError(f"{where}: expected a JSON object of domain: [nameservers]")
        for domain, servers in data.items():
            if not _is_subdomain(domain):
                raise NodeCacheError(f"{where}: invalid domain name: {domain!r}")
            if not isinstance(servers, list) or not servers:
                raise NodeCacheError(f"{where}: {domain}: expected a list of nameservers")
            stubs.append((domain, tuple(_nameserver(s, where, _stub_ok) for s in servers)))
    upstreams: tuple[str, ...] = ()
    text = files.get(UPSTREAM_NAMESERVERS, "").strip()
    where = os.path.join(directory, UPSTREAM_NAMESERVERS)
    data = _json(text, where) if text else None
    if data is not None:
        if not isinstance(data, list):
            raise NodeCacheError(f"{where}: expected a JSON list of nameservers")
        if len(data) > MAX_UPSTREAMS:
            raise NodeCacheError(f"{where}: upstreamNameserver cannot have more than three entries")
        upstreams = tuple(_nameserver(s, where, _upstream_ok) for s in data)
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
    """apimachinery's ``IsDNS1123Subdomain``: lower-case labels, at most 253 characters, no final dot."""
    return len(name) <= MAX_SUBDOMAIN and _DNS1123_SUBDOMAIN.fullmatch(name) is not None


def _nameserver(value: object, where: str, valid: Callable[[str], bool]) -> str:
    if not isinstance(value, str) or not valid(value):
        raise NodeCacheError(f"{where}: invalid nameserver: {value!r}")
    return value


def _stub_ok(server: str) -> bool:
    """A stub domain's server: ``IP`` or ``IP:PORT`` (``[v6]:PORT``), port 0-65535.

    ``Config.Validate`` also lets a host name through, but node-cache's
    ``ValidateNodeLocalCacheConfig`` (the forward plugin's address check) does not.
    """
    split = _split_host_port(server)
    if split is None:
        return go_ip(server)
    host, port = split
    return go_ip(host) and port.isdigit() and int(port) <= 65535


def _upstream_ok(server: str) -> bool:
    """An upstream nameserver (``ValidateNameserverIpAndPort``): ``IP`` or ``IP:PORT``, port 1-65535."""
    if go_ip(server):
        return True
    split = _split_host_port(server)
    if split is None:
        return False
    host, port = split
    return go_ip(host) and port.isdigit() and 1 <= int(port) <= 65535


def _split_host_port(text: str) -> tuple[str, str] | None:
    """Go's ``net.SplitHostPort``: ``host:port`` or ``[host]:port``; None where Go errs."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or text[end + 1 : end + 2] != ":":
            return None
        host, port = text[1:end], text[end + 2 :]
    else:
        host, colon, port = text.rpartition(":")
        if not colon or ":" in host:
            return None
    if any(c in host + port for c in "[]") or ":" in port:
        return None
    return host, port
