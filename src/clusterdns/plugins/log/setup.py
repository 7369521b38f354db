"""``log``: build the handler from the directive; later lines of a block add rules to it."""

from __future__ import annotations

from clusterdns.corefile.model import Directive
from clusterdns.plugins.log.handler import Log, Rule
from clusterdns.plugins.log.options import parse
from clusterdns.plugins.plugin import Plugin, SetupContext


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    rules = tuple(Rule.build(c.scope, c.format, c.classes) for c in parse(directive))
    if isinstance(ctx.previous, Log):
        # Several log lines in a block are one plugin with their rules in order,
        # as CoreDNS's log setup collects every line (plugin/log/setup.go).
        ctx.previous.rules += rules
        return ctx.previous
    return Log(rules)
