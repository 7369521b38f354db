"""``reload [INTERVAL] [JITTER]``: poll the Corefile and swap in a changed one (CoreDNS's reload)."""

from __future__ import annotations

from clusterdns.corefile.model import Directive
from clusterdns.plugins.plugin import Plugin, SetupContext
from clusterdns.plugins.reload.handler import Reload, parse


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    return Reload(parse(directive), ctx.config_file, ctx.host)
