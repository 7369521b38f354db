"""``etcd [ZONES...] { fallthrough; path; endpoint; credentials; tls }`` read into frozen options.

The options and their defaults are CoreDNS's (plugin/etcd/setup.go): path
``/skydns``, endpoint ``http://localhost:2379``; ``stubzones``, ``debug`` and
``upstream`` are accepted and ignored as there; ``min-lease-ttl`` and
``max-lease-ttl`` are read as CoreDNS reads them (a Go duration or plain seconds,
kept as whole seconds, defaults 30 s and 24 h) and have no effect yet (see
README).  No I/O here: setup reads the ``tls`` files.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from clusterdns.cluster.etcd import Endpoint, EtcdConfig, TLSFiles, parse_endpoint
from clusterdns.corefile.model import Directive
from clusterdns.dns.names import ROOT, normalize_zone
from clusterdns.dns.names import reverse_zones as cidr_reverse_zones
from clusterdns.plugins.args import fail, parse_duration
from clusterdns.plugins.fall import Fall

PLUGIN = "etcd"
DEFAULT_PATH = "/skydns"
DEFAULT_ENDPOINT = "http://localhost:2379"
IGNORED = frozenset({"stubzones", "debug", "upstream"})
#: CoreDNS plugin/etcd: the bounds put on a lease's remaining time, in seconds
DEFAULT_MIN_LEASE_TTL = 30
DEFAULT_MAX_LEASE_TTL = 86400


@dataclass(frozen=True, slots=True)
class EtcdOptions:
    zones: tuple[str, ...]
    path: str = DEFAULT_PATH
    endpoints: tuple[Endpoint, ...] = (parse_endpoint(DEFAULT_ENDPOINT),)
    username: str | None = None
    password: str | None = None
    tls: TLSFiles | None = None
    #: None: off; (): every zone; else only names in these zones
    fallthrough: tuple[str, ...] | None = None
    min_lease_ttl: int = DEFAULT_MIN_LEASE_TTL
    max_lease_ttl: int = DEFAULT_MAX_LEASE_TTL

    def falls_through(self, name: str) -> bool:
        if self.fallthrough is None:
            return False
        return Fall(self.fallthrough or (ROOT,)).through(name)

    @property
    def source(self) -> EtcdConfig:
        return EtcdConfig(
            self.endpoints, self.path.rstrip("/") + "/", self.username, self.password, self.tls
        )


def parse(directive: Directive, server_zones: Sequence[str]) -> EtcdOptions:
    """Read the directive; raise ConfigError naming the file and line of what is wrong."""
    zones = _zones(directive, directive.args) or tuple(server_zones)
    if not zones:
        fail(directive, "no zones: give ZONES or put etcd in a server block", PLUGIN)
    path = DEFAULT_PATH
    endpoints: tuple[Endpoint, ...] = (parse_endpoint(DEFAULT_ENDPOINT),)
    username = password = None
    tls: TLSFiles | None = None
    fallthrough: tuple[str, ...] | None = None
    lease_ttls = {"min-lease-ttl": DEFAULT_MIN_LEASE_TTL, "max-lease-ttl": DEFAULT_MAX_LEASE_TTL}
    for option in directive.block:
        args = option.args
        if option.name == "fallthrough":
            fall = _zones(option, args)
            fallthrough = () if "." in fall else fall
        elif option.name == "path":
            if len(args) != 1 or not args[0].strip("/"):
                fail(option, "path needs one etcd key prefix, e.g. /skydns", PLUGIN)
            path = "/" + args[0].strip("/")
        elif option.name == "endpoint":
            if not args:
                fail(option, "endpoint needs at least one URL", PLUGIN)
            try:
                endpoints = tuple(parse_endpoint(a) for a in args)
            except ValueError as exc:
                fail(option, str(exc), PLUGIN)
        elif option.name == "credentials":
            if not args:  # CoreDNS: c.ArgErr()
                fail(
                    option,
                    "Wrong argument count or unexpected line ending after 'credentials'",
                    PLUGIN,
                )
            if len(args) != 2:
                fail(option, "credentials requires 2 arguments, username and password", PLUGIN)
            username, password = args
        elif option.name == "tls":
            tls = tls_files(option)
        elif option.name in lease_ttls:
            lease_ttls[option.name] = _lease_ttl(option)
        elif option.name in IGNORED:
            continue
        else:
            fail(option, f"unknown property '{option.name}'", PLUGIN)
    return EtcdOptions(
        zones,
        path,
        endpoints,
        username,
        password,
        tls,
        fallthrough,
        min_lease_ttl=lease_ttls["min-lease-ttl"],
        max_lease_ttl=lease_ttls["max-lease-ttl"],
    )


def _lease_ttl(option: Directive) -> int:
    """CoreDNS setup.go parseTTL: a Go duration, else plain seconds; kept as whole seconds."""
    if len(option.args) != 1:
        fail(option, f"{option.name} needs one duration, e.g. 30s or 1h", PLUGIN)
    text = option.args[0]
    return int(parse_duration(text + "s" if text.isdigit() else text, option, PLUGIN))


def _zones(directive: Directive, args: Sequence[str]) -> tuple[str, ...]:
    zones: list[str] = []
    for arg in args:
        if "/" in arg:
            try:
                zones.extend(cidr_reverse_zones(arg))
            except ValueError:
                fail(directive, f"invalid CIDR {arg!r}; write e.g. 10.0.0.0/24", PLUGIN)
        else:
            zones.append(normalize_zone(arg))
    return tuple(zones)


def tls_files(option: Directive) -> TLSFiles:
    """CoreDNS ``tls``: none (system CAs), CACERT, CERT KEY, or CERT KEY CACERT, relative to the Corefile."""
    base = os.path.dirname(os.path.abspath(option.file))
    paths = [a if os.path.isabs(a) else os.path.join(base, a) for a in option.args]
    if len(paths) == 0:
        return TLSFiles()
    if len(paths) == 1:
        return TLSFiles(ca=paths[0])
    if len(paths) == 2:
        return TLSFiles(cert=paths[0], key=paths[1])
    if len(paths) == 3:
        return TLSFiles(cert=paths[0], key=paths[1], ca=paths[2])
    fail(option, "tls takes at most 3 arguments: CERT KEY CACERT", PLUGIN)
