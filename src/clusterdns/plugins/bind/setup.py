"""``bind ADDRESS...``: the addresses a server block listens on (config only)."""

from __future__ import annotations

import ipaddress

from clusterdns.corefile.model import Directive
from clusterdns.plugins.args import fail
from clusterdns.plugins.plugin import Plugin, SetupContext


class Bind(Plugin):
    """Config only: the server reads ``hosts`` when it places the block's listeners."""

    name = "bind"
    handles_queries = False

    def __init__(self, hosts: tuple[str, ...]) -> None:
        self.hosts = hosts


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
