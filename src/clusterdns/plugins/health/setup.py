"""``health [ADDRESS] { lameduck DURATION }``: liveness on http://ADDRESS/health (CoreDNS's health)."""

from __future__ import annotations

from clusterdns.corefile.model import Directive
from clusterdns.plugins.health.handler import Health, parse
from clusterdns.plugins.plugin import Plugin, SetupContext


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    return Health(parse(directive), ctx.host)
