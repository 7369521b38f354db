"""``rewrite``: build the handler (one rule) from the directive (CoreDNS's rewrite)."""

from __future__ import annotations

from clusterdns.corefile.model import Directive
from clusterdns.plugins.plugin import Plugin, SetupContext
from clusterdns.plugins.rewrite.handler import Rewrite
from clusterdns.plugins.rewrite.options import parse


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    return Rewrite(parse(directive))
