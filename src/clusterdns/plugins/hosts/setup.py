"""``hosts``: build the handler from the directive (CoreDNS's hosts)."""

from __future__ import annotations

from clusterdns.corefile.model import Directive
from clusterdns.plugins.hosts.handler import Hosts
from clusterdns.plugins.hosts.options import parse
from clusterdns.plugins.plugin import Plugin, SetupContext


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    return Hosts(parse(directive, ctx.zones), ctx.invalidate)
