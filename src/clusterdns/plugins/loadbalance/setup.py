"""``loadbalance``: build the handler from the directive (CoreDNS's loadbalance)."""

from __future__ import annotations

from clusterdns.corefile.model import Directive
from clusterdns.plugins.loadbalance.handler import LoadBalance
from clusterdns.plugins.loadbalance.options import parse
from clusterdns.plugins.plugin import Plugin, SetupContext


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    return LoadBalance(subnets=parse(directive).subnets)
