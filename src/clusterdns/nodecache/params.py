"""The node cache's settings, with k8s-dns-node-cache's flag names and defaults.

Facts from kubernetes/dns ``cmd/node-cache/main.go`` and ``app/cache_app.go``:
``-localip`` is a comma-separated list of one IP family; ``-setupinterface`` and
``-setupiptables`` default to true; ``-interfacename`` is ``nodelocaldns``;
``-syncinterval`` is 60 (a Go duration that node-cache multiplies by one
second: its default, 60 ns, means 60 s; Go's flag parser refuses a bare ``5`` and
``5s`` would mean 5e9 s, so we differ on purpose: a bare number is seconds, as
the flag's help "interval(in seconds)" says, and a unit is taken at face value);
``-reloadwithsignal`` (default false) reloads the server itself after each write
of ``-conf`` instead of leaving that to the ``reload`` plugin; ``-health-port``
8080 (used only for the NOTRACK rules of the liveness probe); ``-metrics-listen-address`` ``0.0.0.0:9353``;
``-basecorefile`` ``/etc/coredns/Corefile.base``; ``-corefile`` ``/etc/Corefile``,
overridden by CoreDNS's ``-conf`` (the file that runs); ``-upstreamsvc`` ``kube-dns``,
whose ClusterIP node-cache reads from the env var ``<SVC>_SERVICE_HOST`` (``NewCacheApp``
only warns when it is unset or not an IP).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from clusterdns.dns.names import split_ip_port
from clusterdns.errors import ClusterDNSError

DEFAULT_BASE_COREFILE = "/etc/coredns/Corefile.base"
DEFAULT_COREFILE = "/etc/Corefile"
DEFAULT_SYNC_INTERVAL = 60.0
#: node-cache's configmap sync period: how often the base Corefile is re-read.
CONFIG_SYNC_PERIOD = 10.0

_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


class NodeCacheError(ClusterDNSError):
    """A node cache flag, template or network setup step is wrong: the message says which."""


@dataclass(frozen=True, slots=True)
class NodeCacheParams:
    local_ips: tuple[str, ...]
    port: int = 53
    interface_name: str = "nodelocaldns"
    setup_interface: bool = True
    setup_iptables: bool = True
    skip_teardown: bool = False
    sync_interval: float = DEFAULT_SYNC_INTERVAL
    health_port: int = 8080
    metrics_listen_address: str = "0.0.0.0:9353"
    base_corefile: str = DEFAULT_BASE_COREFILE
    #: ``-conf``: the Corefile that runs.  None only with ``embedded_base``: served from memory.
    corefile: str | None = DEFAULT_COREFILE
    #: ours, not node-cache's: fill the embedded nodelocaldns template instead of ``base_corefile``.
    embedded_base: bool = False
    upstream_svc: str = "kube-dns"
    cluster_dns: str | None = None
    upstream_servers: tuple[str, ...] = ()
    domain: str = "cluster.local"
    pidfile: str | None = None
    #: ``-reloadwithsignal``: reload in-process after writing ``-conf``, even with ``reload`` in it
    reload_with_signal: bool = False
    #: ``-kubednscm``: the mounted kube-dns ConfigMap; None: ``/etc/kube-dns`` when it exists
    kubedns_cm: str | None = None

    @property
    def ipv6(self) -> bool:
        return ":" in self.local_ips[0]


def parse_local_ips(text: str) -> tuple[str, ...]:
    """``-localip``: comma-separated addresses of one IP family, kept as written.

    As node-cache's ``parseAndValidateFlags``: each item must parse as it is (no
    spaces, no IPv6 zone), all must be of the first one's family, and the text
    goes into the Corefile and the iptables rules unchanged.
    """
    ips: list[str] = []
    for item in text.split(","):
        if not go_ip(item):
            raise NodeCacheError(
                f"-localip: invalid localip specified - {item!r} "
                "(give comma-separated IP addresses, e.g. 169.254.20.10,10.96.0.10)"
            )
        ips.append(item)
    ipv6 = ":" in ips[0]
    for ip in ips:
        if (":" in ip) != ipv6:
            raise NodeCacheError(
                f"-localip: unexpected IP Family for localIP - {ip!r}, want IPv6={str(ipv6).lower()} "
                "(all addresses must be one IP family)"
            )
    return tuple(dict.fromkeys(ips))


def go_ip(text: str) -> bool:
    """Whether Go's ``net.ParseIP`` takes ``text``: an IPv4 or IPv6 address, no zone, no spaces."""
    if "%" in text or text != text.strip():
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def parse_sync_interval(text: str) -> float:
    """``-syncinterval``: a bare number is seconds (node-cache multiplies by 1s); or a Go duration."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = _go_duration(text)
    if seconds <= 0:
        raise NodeCacheError(f"-syncinterval must be positive, not {text!r}")
    return seconds


def _go_duration(text: str) -> float:
    position, total = 0, 0.0
    for match in _GO_DURATION.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if not text or position != len(text):
        raise NodeCacheError(f"-syncinterval: invalid duration {text!r} (use 60, 5s or 500ms)")
    return total


def parse_bool(text: str) -> bool:
    """Go's ``strconv.ParseBool`` spellings, as ``-setupiptables=false`` needs."""
    value = text.strip()
    if value in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if value in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise NodeCacheError(f"invalid boolean value {text!r} (use true or false)")


def svc_env_name(service: str) -> str:
    """The env var the kubelet sets to a Service's ClusterIP: ``kube-dns-upstream`` -> ``KUBE_DNS_UPSTREAM_SERVICE_HOST``."""
    return service.replace("-", "_").upper() + "_SERVICE_HOST"


def parse_server(text: str, flag: str) -> str:
    """One upstream: ``IP`` or ``IP:PORT`` (``[v6]:PORT``), as the forward plugin takes it."""
    try:
        split_ip_port(text, 53)
    except ValueError:
        raise NodeCacheError(f"{flag}: {text!r} is not IP or IP:PORT") from None
    return text


def cluster_dns_address(explicit: str | None, service: str, environ: Mapping[str, str]) -> str:
    """``__PILLAR__CLUSTER__DNS__``: ``-clusterdns``, else the upstream Service's ClusterIP from the env.

    Raises when neither gives an address; the app turns that into node-cache's
    warning and fails only when a template needs the value.
    """
    if explicit:
        return parse_server(explicit, "-clusterdns")
    name = svc_env_name(service)
    value = environ.get(name, "")
    if not value:
        raise NodeCacheError(
            f"env {name} (the ClusterIP of Service {service!r}, -upstreamsvc) is not set; "
            "pass -clusterdns IP"
        )
    if not go_ip(value):
        raise NodeCacheError(f"env {name}={value!r} is not an IP address; pass -clusterdns IP")
    address = ipaddress.ip_address(value)
    # as net.IP.String() writes it: 2001:0db8::1 -> 2001:db8::1, ::ffff:10.0.0.1 -> 10.0.0.1
    return str(getattr(address, "ipv4_mapped", None) or address)


def parse_upstream_servers(values: Sequence[str]) -> tuple[str, ...]:
    """``-upstream-servers``: addresses separated by commas or spaces (may be given more than once)."""
    servers: list[str] = []
    for value in values:
        for item in value.replace(",", " ").split():
            servers.append(
                item if item.startswith("/") else parse_server(item, "-upstream-servers")
            )
    return tuple(servers)
