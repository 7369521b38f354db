"""``bind ADDRESS|IFACE... { except ADDRESS|IFACE... }``: where a server block listens (CoreDNS's bind)."""

from __future__ import annotations

from clusterdns.corefile.model import Directive
from clusterdns.plugins.bind.handler import Bind, parse
from clusterdns.plugins.bind.interfaces import interface_addresses
from clusterdns.plugins.plugin import Plugin, SetupContext


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    hosts = parse(directive, interface_addresses)
    if isinstance(ctx.previous, Bind):  # several bind lines: one list, as CoreDNS consolidates
        ctx.previous.hosts = tuple(dict.fromkeys(ctx.previous.hosts + hosts))
        return ctx.previous
    return Bind(hosts)
