"""``dnstap``: build the plugin from the directive; later lines of a block add outputs to it."""

from __future__ import annotations

import socket

from clusterdns.corefile.model import Directive
from clusterdns.plugins.dnstap.handler import Dnstap
from clusterdns.plugins.dnstap.options import parse
from clusterdns.plugins.plugin import Plugin, SetupContext


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    config = parse(directive, hostname=socket.gethostname())
    if isinstance(ctx.previous, Dnstap):
        ctx.previous.add(config)
        return ctx.previous
    plugin = Dnstap(ctx.host, ctx.port, ctx.listen)
    plugin.add(config)
    return plugin
