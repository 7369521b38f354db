"""The kubelet's pod resolv.conf algorithm (pkg/kubelet/network/dns/dns.go) and the API
server's validation of dnsPolicy/dnsConfig (pkg/apis/core/validation), as pure functions.

Rules, each named where the code applies it:

* policy: ClusterFirst (the default) and ClusterFirstWithHostNet use the cluster DNS;
  a hostNetwork pod under ClusterFirst falls back to Default; Default uses the node's
  resolv.conf; None starts empty.  A kubelet without cluster DNS IPs falls back to
  Default for cluster policies (event MissingClusterDNS).
* cluster search: ``<ns>.svc.<domain> svc.<domain> <domain>`` then the node's search
  list, de-duplicated; options are replaced by ``ndots:5`` (the node's options are dropped).
* dnsConfig: nameservers and searches appended and de-duplicated; options merged by
  name, the pod's value wins.
* limits: 3 nameservers (the rest dropped, warning); 32 search domains, each at most
  253 characters, and 2048 characters in the search line (dropped from the end, warning).
* validation (rejected by the API server, so exit 1 here): None needs dnsConfig with a
  nameserver; at most 3 dnsConfig nameservers, each an IP; at most 32 searches and 2048
  characters; each search a DNS-1123 subdomain (a trailing dot allowed); option names
  not empty; dnsPolicy one of the four.
"""

from __future__ import annotations

import ipaddress
import re
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

_DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = re.compile(rf"^{_DNS1123_LABEL}(\.{_DNS1123_LABEL})*$")


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
        lines = []
        if self.searches:
            lines.append("search " + " ".join(self.searches))
        lines.extend(f"nameserver {ns}" for ns in self.nameservers)
        if self.options:
            lines.append("options " + " ".join(_option_text(o) for o in self.options))
        return "\n".join(lines) + "\n"


def _option_text(option: tuple[str, str | None]) -> str:
    name, value = option
    return f"{name}:{value}" if value else name


class PodDNSInvalid(ValueError):
    """The API server would reject this pod: ``errors`` are field-path messages."""

    def __init__(self, pod: PodDNSSpec, errors: list[str]) -> None:
        self.pod = pod
        self.errors = tuple(errors)
        super().__init__(f"{pod.ref}: " + "; ".join(errors))


def parse_host_resolv_conf(text: str) -> HostResolv:
    """The kubelet's parseResolvConf: nameservers accumulate, the last search and options win."""
    nameservers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    for raw in text.split("\n"):
        line = raw.strip()
        if line.startswith("#"):
            continue
        fields = line.split()
        if not fields:
            continue
        if fields[0] == "nameserver" and len(fields) >= 2:
            nameservers.append(fields[1])
        elif fields[0] == "search":
            # Trailing dots are trimmed so "a." and "a" count once against the limits.
            searches = [s.removesuffix(".") for s in fields[1:]]
        elif fields[0] == "options":
            options = fields[1:]
    return HostResolv(tuple(nameservers), tuple(searches), tuple(options))


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
        try:
            ipaddress.ip_address(ns)
        except ValueError:
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
        bare = search.removesuffix(".")  # a trailing dot is fine
        if len(bare) > MAX_SUBDOMAIN_LENGTH or not _DNS1123_SUBDOMAIN.match(bare):
            errors.append(
                f'spec.dnsConfig.searches[{i}]: Invalid value: "{search}": a lowercase RFC 1123 '
                "subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
                "must start and end with an alphanumeric character"
            )
    for i, option in enumerate(config.options):
        if not option.name:
            errors.append(f"spec.dnsConfig.options[{i}].name: Required value: must not be empty")
    return errors


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _policy_kind(pod: PodDNSSpec) -> str:
    if pod.dns_policy == "None":
        return "none"
    if pod.dns_policy == "ClusterFirstWithHostNet":
        return "cluster"
    if pod.dns_policy == "ClusterFirst" and not pod.host_network:
        return "cluster"
    return "host"  # Default, and ClusterFirst on the host network


def pod_dns(pod: PodDNSSpec, kubelet: Kubelet) -> PodDNS:
    """The resolv.conf the kubelet gives this pod; raises PodDNSInvalid for rejected specs."""
    errors = validate(pod)
    if errors:
        raise PodDNSInvalid(pod, errors)
    warnings: list[str] = []
    host = kubelet.host or HostResolv()
    servers: list[str] = list(host.nameservers)
    searches: list[str] = list(host.searches)
    options: list[tuple[str, str | None]] = [_split_option(o) for o in host.options]
    kind = _policy_kind(pod)
    if kind == "cluster" and not kubelet.cluster_dns:
        warnings.append(
            "MissingClusterDNS: kubelet does not have ClusterDNS IP configured and cannot create Pod "
            'using "ClusterFirst" policy. Falling back to "Default" policy.'
        )
        kind = "host"
    if kind == "none":
        servers, searches, options = [], [], []
    elif kind == "cluster":
        servers = list(kubelet.cluster_dns)
        searches = _cluster_searches(pod.namespace, kubelet.cluster_domain, searches)
        options = list(DEFAULT_OPTIONS)
    elif kubelet.host is None:
        # --resolv-conf="": the kubelet points the pod at the local machine, search ".".
        servers, searches = ["127.0.0.1"], ["."]
    if pod.dns_config is not None:
        servers = _unique(servers + list(pod.dns_config.nameservers))
        searches = _unique(searches + list(pod.dns_config.searches))
        options = merge_options(options, pod.dns_config.options)
    servers = _fit_nameservers(servers, warnings)
    searches = fit_searches(searches, warnings)
    return PodDNS(pod, kind, tuple(servers), tuple(searches), tuple(options), tuple(warnings))


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


def _fit_nameservers(servers: list[str], warnings: list[str]) -> list[str]:
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
