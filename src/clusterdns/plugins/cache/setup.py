"""``cache``: build the handler from the directive (CoreDNS's cache)."""

from __future__ import annotations

from clusterdns.corefile.model import Directive
from clusterdns.plugins.cache.handler import Cache
from clusterdns.plugins.cache.options import parse
from clusterdns.plugins.plugin import Plugin, SetupContext


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    return Cache(parse(directive, ctx.zones), host=ctx.host, block_zones=ctx.zones)
