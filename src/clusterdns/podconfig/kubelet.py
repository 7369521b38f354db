"""The kubelet's pod resolv.conf algorithm (pkg/kubelet/network/dns/dns.go) and the API
server's validation of dnsPolicy/dnsConfig (pkg/apis/core/validation), as pure functions.

Rules, each named where the code applies it:

* policy: ClusterFirst (the default) and ClusterFirstWithHostNet use the cluster DNS;
  a hostNetwork pod under ClusterFirst falls back to Default; Default uses the node's
  resolv.conf; None starts empty.  A kubelet without cluster DNS IPs falls back to
  Default for cluster policies (event MissingClusterDNS).  With --resolv-conf="" the
  host part is ``nameserver 127.0.0.1`` (``::1`` per IPv6 node IP) and ``search .``.
* node resolv.conf (parseResolvConf): a line is a comment only when it starts with '#'
  (after blanks); nameservers accumulate, the last search and options lines win,
  ``domain`` is ignored, search domains lose one trailing dot and ``.`` is dropped; a
  ``nameserver`` line without an address is an error (the kubelet then starts no pod).
* cluster search: ``<ns>.svc.<domain> svc.<domain> <domain>`` then the node's search
  list, de-duplicated; options are replaced by ``ndots:5`` (the node's options are dropped).
* dnsConfig: nameservers and searches appended and de-duplicated; options merged by
  name, the pod's value wins.
* limits: 3 nameservers (the rest dropped, warning); 32 search domains, each at most
  253 characters, and 2048 characters in the search line (dropped from the end, warning).
* validation (rejected by the API server, so exit 1 here): None needs dnsConfig with a
  nameserver; at most 3 dnsConfig nameservers, each an IP; at most 32 searches and 2048
  characters; each search ``.`` or a lowercase RFC 1123 subdomain that may also hold
  underscores (RelaxedDNSSearchValidation, GA and locked on since Kubernetes 1.34), a
  trailing dot allowed; option names not empty; dnsPolicy one of the four.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

from clusterdns.podconfig.manifest import DNSOption, PodDNSConfig, PodDNSSpec

MAX_NAMESERVERS = 3
MAX_SEARCH_PATHS = 32
MAX_SEARCH_LIST_CHARS = 2048
MAX_SUBDOMAIN_LENGTH = 253
DEFAULT_OPTIONS = (("ndots", "5"),)
POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")

# The node resolv.conf used when none is given: what a cloud VM typically carries.
SAMPLE_HOST_RESOLV_CONF = """\
# clusterdns built-in sample of a node's /etc/resolv.conf
nameserver 192.0.2.53
options edns0 trust-ad
"""

# apimachinery's IsDNS1123SubdomainWithUnderscore: a label may start with one '_' and hold '_'
# wherever it may hold '-'.
_SEARCH_LABEL = r"_?[a-z0-9]([-_a-z0-9]*[a-z0-9])?"
_SEARCH_SUBDOMAIN = re.compile(rf"^{_SEARCH_LABEL}(\.{_SEARCH_LABEL})*$")


@dataclass(frozen=True, slots=True)
class HostResolv:
    """A node resolv.conf as the kubelet parses it (parseResolvConf)."""

    nameservers: tuple[str, ...] = ()
    searches: tuple[str, ...] = ()
    options: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Kubelet:
    """The kubelet flags that shape pod DNS: --cluster-dns, --cluster-domain, --resolv-conf."""

    cluster_dns: tuple[str, ...] = ("10.96.0.10",)
    cluster_domain: str = "cluster.local"
    host: HostResolv | None = None  # None: --resolv-conf="" (no node file)
    node_ips: tuple[str, ...] = ()  # --node-ip: with --resolv-conf="", ::1 for each IPv6 one


@dataclass(frozen=True, slots=True)
class PodDNS:
    pod: PodDNSSpec
    policy_applied: str  # "cluster", "host" or "none"
    nameservers: tuple[str, ...]
    searches: tuple[str, ...]
    options: tuple[tuple[str, str | None], ...]
    warnings: tuple[str, ...] = ()

    def to_text(self) -> str:
        """The file as the container runtime writes it: search, nameserver lines, options."""
        return render_resolv_conf(self.searches, self.nameservers, self.options)


def render_resolv_conf(
    searches: Sequence[str],
    nameservers: Sequence[str],
    options: Sequence[tuple[str, str | None]],
) -> str:
    """resolv.conf text in the order the container runtime writes it: search, nameserver, options.

    An option is ``(name, value)``; None is a bare flag.  A node option is written as the
    node's file has it (``ndots:`` stays ``ndots:``); mergeDNSOptions has already turned
    an empty value into a bare name.
    """
    lines = []
    if searches:
        lines.append("search " + " ".join(searches))
    lines.extend(f"nameserver {ns}" for ns in nameservers)
    if options:
        lines.append("options " + " ".join(_option_text(o) for o in options))
    return "\n".join(lines) + "\n"


def _option_text(option: tuple[str, str | None]) -> str:
    name, value = option
    return name if value is None else f"{name}:{value}"


class PodDNSInvalid(ValueError):
    """The API server would reject this pod: ``errors`` are field-path messages."""

    def __init__(self, pod: PodDNSSpec, errors: list[str]) -> None:
        self.pod = pod
        self.errors = tuple(errors)
        super().__init__(f"{pod.ref}: " + "; ".join(errors))


class HostResolvConfError(ValueError):
    """The node's resolv.conf cannot be used: the kubelet fails every pod's DNS set-up."""


def parse_host_resolv_conf(text: str) -> HostResolv:
    """The kubelet's parseResolvConf: nameservers accumulate, the last search and options win.

    Only a line starting with '#' is a comment: ';' is not, and words after a value on a
    line are kept as the kubelet keeps them (``search a #x`` searches ``a`` and ``#x``).
    """
    nameservers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    errors: list[str] = []
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if line.startswith("#"):
            continue
        fields = line.split()
        if not fields:
            continue
        if fields[0] == "nameserver":
            if len(fields) >= 2:
                nameservers.append(fields[1])
            else:
                errors.append(f"line {number}: nameserver list is empty")
        elif fields[0] == "search":
            # Trailing dots are trimmed so "a." and "a" count once against the limits;
            # the root "." is no search domain at all.
            searches = [s.removesuffix(".") for s in fields[1:] if s != "."]
        elif fields[0] == "options":
            options = fields[1:]
    if errors:
        raise HostResolvConfError("; ".join(errors))
    return HostResolv(tuple(nameservers), tuple(searches), tuple(options))


def check_limits_for_resolv_conf(host: HostResolv, cluster_domain: str) -> list[str]:
    """CheckLimitsForResolvConf: the node warnings (CheckLimitsForResolvConf events) the
    kubelet raises at start when the node's search line cannot fit a pod's; the first
    exceeded limit only.  The file is still used: pods get it cut (fit_searches)."""
    limit = MAX_SEARCH_PATHS - (3 if cluster_domain else 0)
    prefix = "CheckLimitsForResolvConf: the node's resolv.conf"
    if len(host.searches) > limit:
        return [f"{prefix} has a search line of more than {limit} domains"]
    if any(len(s) > MAX_SUBDOMAIN_LENGTH for s in host.searches):
        return [f"{prefix} has a search path longer than {MAX_SUBDOMAIN_LENGTH} characters"]
    if len(" ".join(host.searches)) > MAX_SEARCH_LIST_CHARS:
        return [f"{prefix} has a search line longer than {MAX_SEARCH_LIST_CHARS} characters"]
    return []


def validate(pod: PodDNSSpec) -> list[str]:
    """The API server's checks of dnsPolicy and dnsConfig (empty list: valid)."""
    errors: list[str] = []
    if pod.dns_policy not in POLICIES:
        allowed = ", ".join(f'"{p}"' for p in POLICIES)
        errors.append(
            f'spec.dnsPolicy: Unsupported value: "{pod.dns_policy}": supported values: {allowed}'
        )
    config = pod.dns_config
    if pod.dns_policy == "None":
        if config is None:
            return errors + [
                "spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None"
            ]
        if not config.nameservers:
            return errors + [
                "spec.dnsConfig.nameservers: Required value: must provide at least one DNS nameserver when `dnsPolicy` is None"
            ]
    if config is None:
        return errors
    return errors + _validate_config(config)


def _validate_config(config: PodDNSConfig) -> list[str]:
    errors: list[str] = []
    if len(config.nameservers) > MAX_NAMESERVERS:
        errors.append(
            f"spec.dnsConfig.nameservers: Invalid value: {list(config.nameservers)}: "
            f"must not have more than {MAX_NAMESERVERS} nameservers"
        )
    for i, ns in enumerate(config.nameservers):
        if not _is_ip(ns):
            errors.append(
                f'spec.dnsConfig.nameservers[{i}]: Invalid value: "{ns}": must be a valid IP address'
            )
    if len(config.searches) > MAX_SEARCH_PATHS:
        errors.append(
            f"spec.dnsConfig.searches: Invalid value: must not have more than {MAX_SEARCH_PATHS} search paths"
        )
    if len(" ".join(config.searches)) > MAX_SEARCH_LIST_CHARS:
        errors.append(
            "spec.dnsConfig.searches: Invalid value: must not have more than "
            f"{MAX_SEARCH_LIST_CHARS} characters (including spaces) in the search list"
        )
    for i, search in enumerate(config.searches):
        if search == ".":  # the root alone: "search nothing but the name as given"
            continue
        bare = search.removesuffix(".")  # a trailing dot is fine
        if len(bare) > MAX_SUBDOMAIN_LENGTH:
            errors.append(
                f'spec.dnsConfig.searches[{i}]: Invalid value: "{search}": '
                f"must be no more than {MAX_SUBDOMAIN_LENGTH} characters"
            )
        if not _SEARCH_SUBDOMAIN.match(bare):
            errors.append(
                f'spec.dnsConfig.searches[{i}]: Invalid value: "{search}": a lowercase RFC 1123 '
                "subdomain must consist of lower case alphanumeric characters, '_', '-' or '.', "
                "and must start and end with an alphanumeric character"
            )
    for i, option in enumerate(config.options):
        if not option.name:
            errors.append(f"spec.dnsConfig.options[{i}].name: Required value: must not be empty")
    return errors


def _is_ip(text: str) -> bool:
    """An IP as the API server's legacy IP fields take it (Go's ParseIPSloppy).

    No IPv6 zone (``fe80::1%eth0``), and IPv4 octets with leading zeros are read as decimal.
    """
    if "%" in text:
        return False
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        octets = text.split(".")
        return len(octets) == 4 and all(o.isdigit() and int(o) <= 255 for o in octets)


def _ip_text(ip: str) -> str:
    """An IP as Go's net.IP.String() prints it (the kubelet's --cluster-dns IPs)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def policy_kind(pod: PodDNSSpec) -> str:
    """getPodDNSType: "cluster", "host" or "none" (before the no-cluster-DNS fallback)."""
    if pod.dns_policy == "None":
        return "none"
    if pod.dns_policy == "ClusterFirstWithHostNet":
        return "cluster"
    if pod.dns_policy == "ClusterFirst":
        return "host" if pod.host_network else "cluster"
    if pod.dns_policy == "Default":
        return "host"
    # Unknown: the kubelet logs an error and uses ClusterFirst (the API server rejects it first).
    return "cluster"


def pod_dns(pod: PodDNSSpec, kubelet: Kubelet, *, validate_spec: bool = True) -> PodDNS:
    """The resolv.conf the kubelet gives this pod; raises PodDNSInvalid for rejected specs.

    ``validate_spec=False`` skips the API server's checks and shows what the kubelet alone
    does with a spec it should never see (None without dnsConfig: an empty file).
    """
    errors = validate(pod) if validate_spec else []
    if errors:
        raise PodDNSInvalid(pod, errors)
    warnings: list[str] = []
    host = kubelet.host or HostResolv()
    servers: list[str] = list(host.nameservers)
    searches: list[str] = list(host.searches)
    options: list[tuple[str, str | None]] = [_split_option(o) for o in host.options]
    kind = policy_kind(pod)
    if kind == "cluster" and not kubelet.cluster_dns:
        warnings.append(
            "MissingClusterDNS: kubelet does not have ClusterDNS IP configured and cannot create Pod "
            'using "ClusterFirst" policy. Falling back to "Default" policy.'
        )
        kind = "host"
    if kind == "none":
        servers, searches, options = [], [], []
    elif kind == "cluster":
        servers = [_ip_text(ip) for ip in kubelet.cluster_dns]
        searches = _cluster_searches(pod.namespace, kubelet.cluster_domain, searches)
        options = list(DEFAULT_OPTIONS)
    elif kubelet.host is None:
        # --resolv-conf="": the pod's resolver is pointed at the local machine, one
        # loopback address per node IP (::1 for IPv6 ones), 127.0.0.1 without node IPs.
        servers = [_loopback_for(ip) for ip in kubelet.node_ips] or ["127.0.0.1"]
        searches = ["."]
    if pod.dns_config is not None:
        servers = _unique(servers + list(pod.dns_config.nameservers))
        searches = _unique(searches + list(pod.dns_config.searches))
        options = merge_options(options, pod.dns_config.options)
    servers = fit_nameservers(servers, warnings)
    searches = fit_searches(searches, warnings)
    return PodDNS(
        pod=pod,
        policy_applied=kind,
        nameservers=tuple(servers),
        searches=tuple(searches),
        options=tuple(options),
        warnings=tuple(warnings),
    )


def _loopback_for(node_ip: str) -> str:
    # utilnet.IsIPv6: an IPv6 address that is not IPv4-mapped.
    try:
        address = ipaddress.ip_address(node_ip)
    except ValueError:
        return "127.0.0.1"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is None:
        return "::1"
    return "127.0.0.1"


def _split_option(option: str) -> tuple[str, str | None]:
    name, sep, value = option.partition(":")
    return (name, value if sep else None)


def _cluster_searches(namespace: str, domain: str, host_searches: list[str]) -> list[str]:
    if not domain:
        return host_searches
    return _unique([f"{namespace}.svc.{domain}", f"svc.{domain}", domain, *host_searches])


def merge_options(
    existing: list[tuple[str, str | None]], pod_options: tuple[DNSOption, ...]
) -> list[tuple[str, str | None]]:
    """mergeDNSOptions: one entry per name, the pod's value wins.

    The kubelet goes through a Go map, so its order is random; we keep first-seen order
    so the output is stable.
    """
    merged: dict[str, str | None] = {}
    for name, value in existing:
        merged[name] = value or None
    for option in pod_options:
        merged[option.name] = option.value or None
    return list(merged.items())


def fit_nameservers(servers: list[str], warnings: list[str]) -> list[str]:
    """formDNSNameserversFitsLimits: the first 3, with a warning when more were given."""
    if len(servers) <= MAX_NAMESERVERS:
        return servers
    kept = servers[:MAX_NAMESERVERS]
    warnings.append(
        "DNSConfigForming: Nameserver limits were exceeded, some nameservers have been omitted, "
        f"the applied nameserver line is: {' '.join(kept)}"
    )
    return kept


def fit_searches(searches: list[str], warnings: list[str]) -> list[str]:
    """formDNSSearchFitsLimits: cut to 32 domains, drop >253-char ones, then trim to 2048 chars."""
    exceeded = False
    if len(searches) > MAX_SEARCH_PATHS:
        searches = searches[:MAX_SEARCH_PATHS]
        exceeded = True
    fitting = [s for s in searches if len(s) <= MAX_SUBDOMAIN_LENGTH]
    exceeded = exceeded or len(fitting) != len(searches)
    searches = fitting
    while len(" ".join(searches)) > MAX_SEARCH_LIST_CHARS:
        searches = searches[:-1]
        exceeded = True
    if exceeded:
        warnings.append(
            "DNSConfigForming: Search Line limits were exceeded, some search paths have been "
            f"omitted, the applied search line is: {' '.join(searches)}"
        )
    return searches
