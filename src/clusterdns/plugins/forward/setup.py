"""``forward FROM TO... { options }`` (CoreDNS's forward): parse into a frozen config."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

import dns.rcode

from clusterdns.corefile.model import Directive
from clusterdns.dns.names import absolute, reverse_zones, split_ip_port
from clusterdns.plugins.args import fail, parse_duration, parse_int
from clusterdns.plugins.plugin import Plugin, SetupContext
from clusterdns.resolver.resolvconf import parse as parse_resolv_conf

MAX_UPSTREAMS = 15  # CoreDNS: "more than 15 TOs configured"
POLICIES = ("random", "round_robin", "sequential")
DEFAULT_PORTS = {"dns": 53, "tls": 853}


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
    from_zone: str
    to: tuple[UpstreamAddress, ...]
    ignored: tuple[str, ...] = ()
    max_fails: int = 2
    expire: float = 10.0
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
    source_address: str = ""
    max_age: float = 0.0
    max_idle_conns: int = 0
    doh_method: str = "POST"
    resolver: tuple[str, ...] = ()


def parse_upstream(text: str, directive: Directive) -> list[UpstreamAddress]:
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
        # tls://9.9.9.9%dns.quad9.net:10853 (CoreDNS plugin/forward README);
        # tls://[2400:3200::1%dns.alidns.com]:853 (CoreDNS setup_test.go TestSetupTLS)
        if rest.startswith("[") and "]" in rest:
            inside, _, after = rest[1:].partition("]")
            rest = inside + after
        ip, _, name_port = rest.partition("%")
        server_name, colon, port_text = name_port.partition(":")
        bracketed = f"[{ip}]" if ":" in ip else ip
        rest = f"{bracketed}:{port_text}" if colon else bracketed
        if not server_name:
            fail(directive, f"empty TLS server name in {text!r}")
    try:
        host, port = split_ip_port(rest, DEFAULT_PORTS[transport])
        return [UpstreamAddress(host, port, transport, server_name)]
    except ValueError:
        pass
    if transport == "dns" and "://" not in text:
        path = text
        if not os.path.isabs(path):
            path = os.path.join(os.path.dirname(os.path.abspath(directive.file)), path)
        if os.path.isfile(path):
            return nameservers_from_file(path, directive)
    fail(
        directive,
        f"not an IP address or file: {text!r} (write IP[:port], tls://IP[:port] or a resolv.conf path)",
    )


def nameservers_from_file(path: str, directive: Directive) -> list[UpstreamAddress]:
    """The ``nameserver`` lines of a resolv.conf-style file, each on port 53."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            conf = parse_resolv_conf(handle.read())
    except OSError as exc:
        fail(directive, f"cannot read {path}: {exc.strerror}")
    found = []
    for nameserver in conf.nameservers:
        try:
            host, port = split_ip_port(nameserver.split("%", 1)[0], 53)
        except ValueError:
            continue
        found.append(UpstreamAddress(host, port, "dns"))
    return found  # CoreDNS: a file without nameservers adds none (checked over all TOs)


def parse(directive: Directive) -> ForwardConfig:
    if len(directive.args) < 2:
        fail(directive, "needs FROM and at least one TO: forward FROM TO...")
    from_zone = normalize_exact(directive.args[0], directive)[0]
    to: list[UpstreamAddress] = []
    for text in directive.args[1:]:
        for upstream in parse_upstream(text, directive):
            if upstream not in to:
                to.append(upstream)
    if not to:
        fail(directive, "no valid upstream addresses found")
    if len(to) > MAX_UPSTREAMS:
        fail(directive, f"more than {MAX_UPSTREAMS} TOs configured: {len(to)}")
    options: dict[str, object] = {}
    for option in directive.block:
        _parse_option(option, options)
    max_age, expire = float(options.get("max_age", 0.0)), float(options.get("expire", 10.0))  # type: ignore[arg-type]
    if 0 < max_age < expire:
        fail(directive, f"max_age ({max_age}s) must not be less than expire ({expire}s)")
    if options.get("tls_servername") and any(u.server_name for u in to):
        fail(
            directive,
            "both a per-upstream TLS server name (tls://IP%NAME) and 'tls_servername' are set",
        )
    return ForwardConfig(from_zone, tuple(to), **options)  # type: ignore[arg-type]


def _parse_option(option: Directive, options: dict[str, object]) -> None:
    name, args = option.name, option.args

    def one() -> str:
        if len(args) != 1:
            fail(option, f"{name} needs exactly one argument", "forward")
        return args[0]

    def none() -> None:
        if args:
            fail(option, f"{name} takes no arguments", "forward")

    if name == "except":
        if not args:
            fail(option, "except needs at least one domain", "forward")
        options["ignored"] = tuple(z for a in args for z in normalize_exact(a, option))
    elif name == "max_fails":
        options["max_fails"] = parse_int(one(), option, 0, 2**32 - 1, "max_fails", "forward")
    elif name == "health_check":
        if not args:
            fail(option, "health_check needs a duration", "forward")
        options["health_check"] = parse_duration(args[0], option, "forward")
        rest = list(args[1:])
        while rest:
            word = rest.pop(0)
            if word == "no_rec":
                options["hc_recursion_desired"] = False
            elif word == "domain" and rest:
                domain = rest.pop(0)
                if not is_domain_name(domain):
                    fail(option, f"health_check: invalid domain name {domain}", "forward")
                options["hc_domain"] = absolute(domain)
            elif word == "domain":
                fail(option, "Wrong argument count or unexpected line ending after 'domain'")
            else:
                fail(option, f"health_check: unknown option {word}", "forward")
    elif name == "force_tcp":
        none()
        options["force_tcp"] = True
    elif name == "prefer_udp":
        none()
        options["prefer_udp"] = True
    elif name == "tls":
        if len(args) > 3:
            fail(option, "tls takes at most three arguments: [CERT KEY] [CA]", "forward")
        options["tls"] = tuple(_relative_to_corefile(a, option) for a in args)
    elif name == "tls_servername":
        options["tls_servername"] = one()
    elif name == "expire":
        options["expire"] = parse_duration(one(), option, "forward")
    elif name == "read_timeout":
        value = parse_duration(one(), option, "forward")
        if value <= 0:
            fail(option, "read_timeout must be positive", "forward")
        options["read_timeout"] = value
    elif name == "policy":
        policy = one()
        if policy not in POLICIES:
            fail(option, f"unknown policy '{policy}' (use {', '.join(POLICIES)})", "forward")
        options["policy"] = policy
    elif name == "max_concurrent":
        options["max_concurrent"] = parse_int(
            one(), option, 0, 2**31 - 1, "max_concurrent", "forward"
        )
    elif name == "next":
        if not args:
            fail(option, "next needs at least one rcode", "forward")
        options["next_rcodes"] = tuple(_rcode(a, option) for a in args)
    elif name == "max_connect_attempts":
        options["max_connect_attempts"] = parse_int(
            one(), option, 0, 2**32 - 1, "max_connect_attempts", "forward"
        )
    elif name == "failover":
        if not args:
            fail(option, "failover needs at least one rcode", "forward")
        rcodes = tuple(_rcode(a, option) for a in args)
        if 0 in rcodes:
            fail(option, "NoError cannot be used in failover", "forward")
        options["failover_rcodes"] = rcodes
    elif name == "failfast_all_unhealthy_upstreams":
        none()
        options["failfast_all_unhealthy_upstreams"] = True
    elif name == "next_on_nodata":
        none()
        options["next_on_nodata"] = True
    elif name == "max_age":
        options["max_age"] = parse_duration(one(), option, "forward")
    elif name == "max_idle_conns":
        options["max_idle_conns"] = parse_int(
            one(), option, 0, 2**31 - 1, "max_idle_conns", "forward"
        )
    elif name == "source_address":
        try:
            address = ipaddress.ip_address(one())
        except ValueError:
            fail(option, f"invalid IP address: {args[0]}", "forward")
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        options["source_address"] = str(address)
    elif name == "doh_method":
        if one() not in ("POST", "GET"):
            fail(option, "doh_method must be either POST or GET", "forward")
        options["doh_method"] = args[0]
    elif name == "resolver":
        if not args:
            fail(option, "resolver needs at least one address", "forward")
        for arg in args:
            try:
                split_ip_port(arg, 53)
            except ValueError:
                fail(option, f"resolver must be an IP address or IP:port: {arg!r}", "forward")
        options["resolver"] = tuple(args)
    else:
        fail(option, f"unknown property '{name}'", "forward")


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


def _rcode(text: str, option: Directive) -> int:
    try:
        return int(dns.rcode.from_text(text.upper()))
    except (dns.rcode.UnknownRcode, ValueError):
        fail(option, f"{text} is not a valid rcode", "forward")


def _relative_to_corefile(path: str, option: Directive) -> str:
    if os.path.isabs(path):
        return path
    return os.path.join(os.path.dirname(os.path.abspath(option.file)), path)


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    from clusterdns.plugins.forward.handler import Forward

    config = parse(directive)
    plugin = Forward(config)
    plugin.block_plugins = ctx.block_plugins
    previous = ctx.previous
    if isinstance(previous, Forward):
        # CoreDNS chains several forward stanzas of one block: ``next RCODE``
        # only hands a query on when the next plugin is another forward.
        previous.next_is_forward = True
    return plugin
