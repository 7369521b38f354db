"""``prometheus [ADDRESS]``: exports metrics on http://ADDRESS/metrics (CoreDNS's prometheus)."""

from __future__ import annotations

from clusterdns.corefile.model import Directive
from clusterdns.plugins.plugin import Plugin, SetupContext
from clusterdns.plugins.prometheus.handler import Prometheus, parse


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    address = parse(directive)
    ctx.meter()  # the server counts this block's queries in the per-query families
    return Prometheus(address, ctx.host)
