"""``ready [ADDRESS] { monitor until-ready|continuously }``: readiness on http://ADDRESS/ready (CoreDNS's ready)."""

from __future__ import annotations

from clusterdns.corefile.model import Directive
from clusterdns.plugins.plugin import Plugin, SetupContext
from clusterdns.plugins.ready.handler import Ready, parse


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    return Ready(parse(directive), ctx.host, ctx.block_plugins)
