"""``whoami``: answers with the client's address and port (CoreDNS's whoami)."""

from __future__ import annotations

from clusterdns.corefile.model import Directive
from clusterdns.plugins.args import no_options
from clusterdns.plugins.plugin import Plugin, SetupContext
from clusterdns.plugins.whoami.handler import Whoami


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    no_options(directive)
    return Whoami()
