"""``hosts [FILE [ZONES...]] { INLINE; ttl; no_reverse; reload; fallthrough }`` -> ``HostsConfig``."""

from __future__ import annotations

from dataclasses import dataclass

from clusterdns.corefile.model import Directive
from clusterdns.dns.names import origins
from clusterdns.plugins.args import beside_corefile, fail, parse_duration, parse_int
from clusterdns.plugins.fall import NEVER, Fall
from clusterdns.plugins.hosts.hostsfile import Entry, make_entry

DEFAULT_FILE = "/etc/hosts"
DEFAULT_TTL = 3600
MAX_TTL = 65535  # CoreDNS: "ttl provided is invalid" outside 1-65535


@dataclass(frozen=True, slots=True)
class HostsConfig:
    path: str
    zones: tuple[str, ...]
    inline: tuple[Entry, ...]
    ttl: int = DEFAULT_TTL
    reverse: bool = True
    reload: float = 5.0
    fall: Fall = NEVER
    fallthrough_unsupported: bool = False


def parse(directive: Directive, server_zones: tuple[str, ...]) -> HostsConfig:
    """CoreDNS plugin/hosts/setup.go ``hostsParse``, option by option.

    The file is ``/etc/hosts`` unless named, and it is read even when the block
    has inline entries (CoreDNS merges both); ``ttl`` is 1-65535; inline entries
    may only come before ``fallthrough`` (after it a word is an unknown property).
    """
    path = directive.args[0] if directive.args else DEFAULT_FILE
    # A CIDR stands for its reverse zones (CoreDNS's OriginsFromArgsOrServerBlock).
    zones = tuple(z for a in directive.args[1:] for z in origins(a)) or server_zones
    inline: list[Entry] = []
    ttl, reverse, reload, fall, unsupported = DEFAULT_TTL, True, 5.0, NEVER, False
    for option in directive.block:
        if option.name == "ttl":
            if len(option.args) != 1:
                fail(option, "ttl needs a time in seconds", "hosts")
            ttl = parse_int(option.args[0], option, 1, MAX_TTL, "ttl", "hosts")
        elif option.name == "no_reverse":
            _no_args(option)
            reverse = False
        elif option.name == "reload":
            if len(option.args) != 1:
                fail(option, "reload needs a duration (zero seconds to disable)", "hosts")
            reload = parse_duration(option.args[0], option, "hosts")
        elif option.name == "fallthrough":
            fall = Fall.from_args(option.args)
        elif option.name == "fallthrough_unsupported":
            _no_args(option)
            unsupported = True
        elif fall.zones:
            fail(option, f"unknown property '{option.name}'", "hosts")
        else:
            entry = make_entry(option.name, option.args)
            if entry is None or not option.args:
                fail(option, f"unknown property or bad inline entry {option.name!r}", "hosts")
            inline.append(entry)
    if unsupported and not fall.zones:
        fail(directive, "fallthrough_unsupported requires fallthrough", "hosts")
    path = beside_corefile(path, directive)
    return HostsConfig(path, zones, tuple(inline), ttl, reverse, reload, fall, unsupported)


def _no_args(option: Directive) -> None:
    if option.args:
        fail(option, f"{option.name} takes no arguments", "hosts")
