"""``dump``: one log line per query as it arrives (the external *dump* plugin)."""

from __future__ import annotations

from clusterdns.corefile.model import Directive
from clusterdns.plugins.args import no_options
from clusterdns.plugins.dump.handler import Dump
from clusterdns.plugins.plugin import Plugin, SetupContext


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    no_options(directive)
    return Dump()
