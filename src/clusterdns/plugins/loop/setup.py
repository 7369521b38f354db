"""``loop``: detect a forwarding loop at start-up and stop the process (CoreDNS's loop)."""

from __future__ import annotations

from clusterdns.corefile.model import Directive
from clusterdns.plugins.args import no_options
from clusterdns.plugins.loop.handler import Loop, exit_fatally
from clusterdns.plugins.plugin import Plugin, SetupContext


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    no_options(directive)
    zone = ctx.zones[0] if ctx.zones else "."
    host = ctx.listen[0] if ctx.listen else ""
    return Loop(zone, host, ctx.port, exit_fatally, ctx.host)
