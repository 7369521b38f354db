"""``forward FROM TO... { options }`` (CoreDNS's forward) -> a frozen ``ForwardConfig``.

Syntax, limits and error texts follow CoreDNS's plugin/forward/setup.go.  Each
block option is parsed by its own entry of ``OPTIONS``.  No I/O: a TO that names
a resolv.conf file is read through the ``read_file`` that the caller passes in.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, replace

import dns.rcode

from clusterdns.corefile.model import Directive
from clusterdns.dns.names import absolute, reverse_zones, split_ip_port
from clusterdns.plugins.args import beside_corefile, fail, parse_duration, parse_int
from clusterdns.resolver.resolvconf import parse as parse_resolv_conf

PLUGIN = "forward"
MAX_UPSTREAMS = 15  # CoreDNS: "more than 15 TOs configured"
POLICIES = ("random", "round_robin", "sequential")
DEFAULT_PORTS = {"dns": 53, "tls": 853}
DOH_METHODS = ("POST", "GET")

ReadFile = Callable[[str], str | None]
"""A file's text, None when there is no such file; raises OSError when it cannot be read."""


def no_files(path: str) -> None:
    """The ``ReadFile`` of a parse that may not read files: every path is missing."""
    return None


@dataclass(frozen=True, slots=True)
class UpstreamAddress:
    """One TO: ``host`` (an IP), ``port`` and ``transport`` (``dns`` or ``tls``)."""

    host: str
    port: int
    transport: str = "dns"
    #: ``tls://IP%NAME``: this upstream's TLS server name (CoreDNS's per-endpoint SNI)
    server_name: str = ""

    @property
    def label(self) -> str:
        """``host:port`` as CoreDNS writes the ``to`` label (IPv6 in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ForwardConfig:
    """The directive as values; the defaults are CoreDNS's (the one place they are written)."""

    from_zone: str
    to: tuple[UpstreamAddress, ...]
    ignored: tuple[str, ...] = ()
    max_fails: int = 2
    expire: float = 10.0  # pooled connections unused this long are closed
    health_check: float = 0.5
    hc_recursion_desired: bool = True
    hc_domain: str = "."
    force_tcp: bool = False
    prefer_udp: bool = False
    tls: tuple[str, ...] | None = None  # CERT KEY CA / CA / nothing: None when not given
    tls_servername: str = ""
    policy: str = "random"
    max_concurrent: int = 0
    next_rcodes: tuple[int, ...] = ()
    read_timeout: float = 2.0
    #: cap on upstream connect attempts per query; None: 2 per upstream; 0: no cap
    max_connect_attempts: int | None = None
    #: replies with these rcodes make forward try the next upstream (never NOERROR)
    failover_rcodes: tuple[int, ...] = ()
    #: every upstream down: SERVFAIL at once instead of trying a random one
    failfast_all_unhealthy_upstreams: bool = False
    #: a NOERROR without answers goes to the next forward stanza
    next_on_nodata: bool = False
    source_address: str = ""  # the local address upstream sockets are bound to
    max_age: float = 0.0  # pooled connections older than this are closed; 0: no limit
    max_idle_conns: int = 0  # idle pooled connections kept per transport; 0: no limit
    doh_method: str = "POST"
    resolver: tuple[str, ...] = ()


# -- FROM and TO -----------------------------------------------------------------------


def parse(directive: Directive, read_file: ReadFile = no_files) -> ForwardConfig:
    if len(directive.args) < 2:
        fail(directive, "needs FROM and at least one TO: forward FROM TO...")
    from_zone = normalize_exact(directive.args[0], directive)[0]
    to: list[UpstreamAddress] = []
    for text in directive.args[1:]:
        for upstream in parse_upstream(text, directive, read_file):
            if upstream not in to:
                to.append(upstream)
    if not to:
        fail(directive, "no valid upstream addresses found")
    if len(to) > MAX_UPSTREAMS:
        fail(directive, f"more than {MAX_UPSTREAMS} TOs configured: {len(to)}")
    config = ForwardConfig(from_zone, tuple(to))
    for option in directive.block:
        parse_option = OPTIONS.get(option.name)
        if parse_option is None:
            fail(option, f"unknown property '{option.name}'", PLUGIN)
        config = parse_option(option, config)
    if 0 < config.max_age < config.expire:
        fail(
            directive,
            f"max_age ({config.max_age}s) must not be less than expire ({config.expire}s)",
        )
    if config.tls_servername and any(u.server_name for u in to):
        fail(
            directive,
            "both a per-upstream TLS server name (tls://IP%NAME) and 'tls_servername' are set",
        )
    return config


def parse_upstream(
    text: str, directive: Directive, read_file: ReadFile = no_files
) -> list[UpstreamAddress]:
    """One TO: ``IP[:port]``, ``dns://IP[:port]``, ``tls://IP[%NAME][:port]`` or a resolv.conf file."""
    transport = "dns"
    rest = text
    if "://" in text:
        transport, rest = text.split("://", 1)
        if transport not in DEFAULT_PORTS:
            fail(
                directive,
                f"'{transport}' is not supported as a destination protocol in forward: {text}",
            )
    server_name = ""
    if transport == "tls" and "%" in rest:
        rest, server_name = _split_server_name(rest, text, directive)
    try:
        host, port = split_ip_port(rest, DEFAULT_PORTS[transport])
        return [UpstreamAddress(host, port, transport, server_name)]
    except ValueError:
        pass
    if transport == "dns" and "://" not in text:
        path = beside_corefile(text, directive)
        try:
            conf = read_file(path)
        except OSError as exc:
            fail(directive, f"cannot read {path}: {exc.strerror}")
        if conf is not None:
            return nameservers(conf)
    fail(
        directive,
        f"not an IP address or file: {text!r} (write IP[:port], tls://IP[:port] or a resolv.conf path)",
    )


def _split_server_name(rest: str, text: str, directive: Directive) -> tuple[str, str]:
    """``IP%NAME[:port]`` -> (``IP[:port]``, NAME).

    tls://9.9.9.9%dns.quad9.net:10853 (CoreDNS plugin/forward README);
    tls://[2400:3200::1%dns.alidns.com]:853 (CoreDNS setup_test.go TestSetupTLS).
    """
    if rest.startswith("[") and "]" in rest:
        inside, _, after = rest[1:].partition("]")
        rest = inside + after
    ip, _, name_port = rest.partition("%")
    server_name, colon, port_text = name_port.partition(":")
    bracketed = f"[{ip}]" if ":" in ip else ip
    if not server_name:
        fail(directive, f"empty TLS server name in {text!r}")
    return (f"{bracketed}:{port_text}" if colon else bracketed), server_name


def nameservers(resolv_conf: str) -> list[UpstreamAddress]:
    """The ``nameserver`` lines of a resolv.conf-style text, each on port 53."""
    found = []
    for nameserver in parse_resolv_conf(resolv_conf).nameservers:
        try:
            host, port = split_ip_port(nameserver.split("%", 1)[0], 53)
        except ValueError:
            continue
        found.append(UpstreamAddress(host, port, "dns"))
    return found  # CoreDNS: a file without nameservers adds none (checked over all TOs)


def normalize_exact(text: str, directive: Directive) -> list[str]:
    """CoreDNS's plugin.Host(...).NormalizeExact: a zone, or a CIDR's reverse zones.

    A CIDR not on an octet (nibble) boundary spans several zones; CoreDNS
    keeps only the first for FROM.
    """
    if "/" in text:
        try:
            return reverse_zones(text.split("://", 1)[-1])
        except ValueError:
            pass
    name = absolute(text.split("://", 1)[-1])
    if not is_domain_name(name):
        fail(directive, f"unable to normalize '{text}'")
    return [name]


def is_domain_name(name: str) -> bool:
    """miekg/dns IsDomainName: no empty label, labels of at most 63 bytes, at most 255 in all."""
    if name == ".":
        return True
    labels = name[:-1].split(".") if name.endswith(".") else name.split(".")
    if any(not label or len(label) > 63 for label in labels):
        return False
    return sum(len(label) + 1 for label in labels) + 1 <= 255


# -- the block's options, one function each ------------------------------------------

Option = Callable[[Directive, ForwardConfig], ForwardConfig]


def _one(option: Directive) -> str:
    if len(option.args) != 1:
        fail(option, f"{option.name} needs exactly one argument", PLUGIN)
    return option.args[0]


def _no_args(option: Directive, config: ForwardConfig) -> ForwardConfig:
    if option.args:
        fail(option, f"{option.name} takes no arguments", PLUGIN)
    return config


def _some(option: Directive, what: str) -> tuple[str, ...]:
    if not option.args:
        fail(option, f"{option.name} needs at least one {what}", PLUGIN)
    return option.args


def _duration(option: Directive) -> float:
    return parse_duration(_one(option), option, PLUGIN)


def _count(option: Directive, high: int) -> int:
    return parse_int(_one(option), option, 0, high, option.name, PLUGIN)


def _rcodes(option: Directive) -> tuple[int, ...]:
    return tuple(_rcode(a, option) for a in _some(option, "rcode"))


def _rcode(text: str, option: Directive) -> int:
    try:
        return int(dns.rcode.from_text(text.upper()))
    except (dns.rcode.UnknownRcode, ValueError):
        fail(option, f"{text} is not a valid rcode", PLUGIN)


def _except(option: Directive, config: ForwardConfig) -> ForwardConfig:
    zones = tuple(z for a in _some(option, "domain") for z in normalize_exact(a, option))
    return replace(config, ignored=zones)


def _health_check(option: Directive, config: ForwardConfig) -> ForwardConfig:
    """``health_check DURATION [no_rec] [domain FQDN]``."""
    if not option.args:
        fail(option, "health_check needs a duration", PLUGIN)
    config = replace(config, health_check=parse_duration(option.args[0], option, PLUGIN))
    rest = list(option.args[1:])
    while rest:
        word = rest.pop(0)
        if word == "no_rec":
            config = replace(config, hc_recursion_desired=False)
        elif word == "domain" and rest:
            domain = rest.pop(0)
            if not is_domain_name(domain):
                fail(option, f"health_check: invalid domain name {domain}", PLUGIN)
            config = replace(config, hc_domain=absolute(domain))
        elif word == "domain":
            fail(option, "Wrong argument count or unexpected line ending after 'domain'")
        else:
            fail(option, f"health_check: unknown option {word}", PLUGIN)
    return config


def _tls(option: Directive, config: ForwardConfig) -> ForwardConfig:
    if len(option.args) > 3:
        fail(option, "tls takes at most three arguments: [CERT KEY] [CA]", PLUGIN)
    return replace(config, tls=tuple(beside_corefile(a, option) for a in option.args))


def _read_timeout(option: Directive, config: ForwardConfig) -> ForwardConfig:
    value = _duration(option)
    if value <= 0:
        fail(option, "read_timeout must be positive", PLUGIN)
    return replace(config, read_timeout=value)


def _policy(option: Directive, config: ForwardConfig) -> ForwardConfig:
    policy = _one(option)
    if policy not in POLICIES:
        fail(option, f"unknown policy '{policy}' (use {', '.join(POLICIES)})", PLUGIN)
    return replace(config, policy=policy)


def _failover(option: Directive, config: ForwardConfig) -> ForwardConfig:
    rcodes = _rcodes(option)
    if 0 in rcodes:
        fail(option, "NoError cannot be used in failover", PLUGIN)
    return replace(config, failover_rcodes=rcodes)


def _source_address(option: Directive, config: ForwardConfig) -> ForwardConfig:
    try:
        address = ipaddress.ip_address(_one(option))
    except ValueError:
        fail(option, f"invalid IP address: {option.args[0]}", PLUGIN)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return replace(config, source_address=str(address))


def _doh_method(option: Directive, config: ForwardConfig) -> ForwardConfig:
    method = _one(option)
    if method not in DOH_METHODS:
        fail(option, "doh_method must be either POST or GET", PLUGIN)
    return replace(config, doh_method=method)


def _resolver(option: Directive, config: ForwardConfig) -> ForwardConfig:
    for arg in _some(option, "address"):
        try:
            split_ip_port(arg, 53)
        except ValueError:
            fail(option, f"resolver must be an IP address or IP:port: {arg!r}", PLUGIN)
    return replace(config, resolver=option.args)


OPTIONS: dict[str, Option] = {
    "except": _except,
    "max_fails": lambda o, c: replace(c, max_fails=_count(o, 2**32 - 1)),
    "health_check": _health_check,
    "force_tcp": lambda o, c: replace(_no_args(o, c), force_tcp=True),
    "prefer_udp": lambda o, c: replace(_no_args(o, c), prefer_udp=True),
    "tls": _tls,
    "tls_servername": lambda o, c: replace(c, tls_servername=_one(o)),
    "expire": lambda o, c: replace(c, expire=_duration(o)),
    "read_timeout": _read_timeout,
    "policy": _policy,
    "max_concurrent": lambda o, c: replace(c, max_concurrent=_count(o, 2**31 - 1)),
    "next": lambda o, c: replace(c, next_rcodes=_rcodes(o)),
    "max_connect_attempts": lambda o, c: replace(c, max_connect_attempts=_count(o, 2**32 - 1)),
    "failover": _failover,
    "failfast_all_unhealthy_upstreams": lambda o, c: replace(
        _no_args(o, c), failfast_all_unhealthy_upstreams=True
    ),
    "next_on_nodata": lambda o, c: replace(_no_args(o, c), next_on_nodata=True),
    "max_age": lambda o, c: replace(c, max_age=_duration(o)),
    "max_idle_conns": lambda o, c: replace(c, max_idle_conns=_count(o, 2**31 - 1)),
    "source_address": _source_address,
    "doh_method": _doh_method,
    "resolver": _resolver,
}
