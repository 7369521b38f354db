"""``forward``: build the handler from the directive; a TO may name a resolv.conf file, read here."""

from __future__ import annotations

import os

from clusterdns.corefile.model import Directive
from clusterdns.plugins.forward.handler import Forward
from clusterdns.plugins.forward.options import parse
from clusterdns.plugins.plugin import Plugin, SetupContext


def read_if_file(path: str) -> str | None:
    """The text of ``path`` when it is a file (a resolv.conf given as a TO), else None."""
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    plugin = Forward(parse(directive, read_if_file))
    plugin.block_plugins = ctx.block_plugins
    previous = ctx.previous
    if isinstance(previous, Forward):
        # CoreDNS chains several forward stanzas of one block: ``next RCODE``
        # only hands a query on when the next plugin is another forward.
        previous.next_is_forward = True
    return plugin
