"""``hosts [FILE [ZONES...]] { INLINE; ttl; no_reverse; reload; fallthrough }`` (CoreDNS's hosts)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from clusterdns.corefile.model import Directive
from clusterdns.plugins.args import fail, parse_duration, parse_int
from clusterdns.plugins.hosts.handler import Hosts
from clusterdns.plugins.hosts.hostsfile import Entry, absolute, make_entry
from clusterdns.plugins.plugin import Plugin, SetupContext

DEFAULT_FILE = "/etc/hosts"


@dataclass(frozen=True, slots=True)
class HostsConfig:
    path: str | None
    zones: tuple[str, ...]
    inline: tuple[Entry, ...]
    ttl: int = 3600
    reverse: bool = True
    reload: float = 5.0
    fallthrough: tuple[str, ...] | None = None  # None: off; (): every zone


def parse(directive: Directive, server_zones: tuple[str, ...]) -> HostsConfig:
    path: str | None = directive.args[0] if directive.args else DEFAULT_FILE
    zones = tuple(absolute(z) for z in directive.args[1:]) or server_zones
    inline: list[Entry] = []
    ttl, reverse, reload, fallthrough = 3600, True, 5.0, None
    for option in directive.block:
        if option.name == "ttl":
            if len(option.args) != 1:
                fail(option, "ttl needs one number of seconds", "hosts")
            ttl = parse_int(option.args[0], option, 0, 2**31 - 1, "ttl")
        elif option.name == "no_reverse":
            reverse = False
        elif option.name == "reload":
            if len(option.args) != 1:
                fail(option, "reload needs one duration", "hosts")
            reload = parse_duration(option.args[0], option, "hosts")
        elif option.name == "fallthrough":
            fallthrough = tuple(absolute(z) for z in option.args)
        else:
            entry = make_entry(option.name, option.args)
            if entry is None or not option.args:
                fail(option, f"unknown property or bad inline entry {option.name!r}", "hosts")
            inline.append(entry)
    if inline and not directive.args:
        path = None  # only inline entries: CoreDNS does not read /etc/hosts then
    if path is not None and not os.path.isabs(path):
        path = os.path.join(os.path.dirname(os.path.abspath(directive.file)), path)
    return HostsConfig(path, zones, tuple(inline), ttl, reverse, reload, fallthrough)


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    config = parse(directive, ctx.zones)
    return Hosts(config, ctx.invalidate)
