"""``debug``: debug log lines on, and hex dumps of packets that could not be read (CoreDNS's debug)."""

from __future__ import annotations

from clusterdns.corefile.model import Directive
from clusterdns.plugins.args import no_options
from clusterdns.plugins.debug.handler import Debug
from clusterdns.plugins.plugin import Plugin, SetupContext


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    no_options(directive)
    ctx.stacktrace()
    return Debug()
