"""``file``: build the handler from the directive and load the zone file once."""

from __future__ import annotations

from clusterdns.corefile.model import Directive
from clusterdns.plugins.file.handler import File
from clusterdns.plugins.file.options import parse
from clusterdns.plugins.plugin import Plugin, SetupContext


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    plugin = File(parse(directive, ctx.zones), ctx.invalidate)
    plugin.load_at_start()
    return plugin
