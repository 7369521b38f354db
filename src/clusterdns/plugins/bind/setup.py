"""``bind ADDRESS...``: the addresses a server block listens on (config only)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from clusterdns.corefile.model import Directive
from clusterdns.plugins.args import fail
from clusterdns.plugins.plugin import Plugin, SetupContext


@dataclass(frozen=True, slots=True)
class Bind(Plugin):
    hosts: tuple[str, ...]
    name = "bind"  # type: ignore[misc]
    handles_queries = False  # type: ignore[misc]


def parse(directive: Directive) -> tuple[str, ...]:
    if not directive.args:
        fail(directive, "expected at least one address")
    if directive.block:
        fail(directive, "'except' and interface names are not supported; list IP addresses")
    hosts = []
    for arg in directive.args:
        try:
            hosts.append(str(ipaddress.ip_address(arg)))
        except ValueError:
            fail(directive, f"not an IP address: {arg!r} (interface names are not supported)")
    return tuple(dict.fromkeys(hosts))


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    return Bind(parse(directive))
