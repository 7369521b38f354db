"""``searchwalk [ZONES...]``: count the queries clients send only because of their search list."""

from __future__ import annotations

from clusterdns.corefile.model import Directive
from clusterdns.plugins.plugin import Plugin, SetupContext
from clusterdns.plugins.searchwalk.handler import SearchWalk, parse


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    return SearchWalk(parse(directive, ctx.zones), ctx.block_plugins)
