"""``errors [stdout] { stacktrace; consolidate ... }``: logs the errors plugins return (CoreDNS's errors)."""

from __future__ import annotations

from clusterdns.corefile.model import Directive
from clusterdns.plugins.errors.handler import Errors
from clusterdns.plugins.errors.options import parse
from clusterdns.plugins.plugin import Plugin, SetupContext


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    config = parse(directive)
    if config.stacktrace:
        # CoreDNS: errors sets the server block's Stacktrace, so a recovered panic
        # is logged with its stack (core/dnsserver/server.go); here: the traceback.
        ctx.stacktrace()
    return Errors(config)
