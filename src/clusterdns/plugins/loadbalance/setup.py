"""``loadbalance [round_robin]``: shuffle A, AAAA and MX records of NOERROR replies (CoreDNS's loadbalance)."""

from __future__ import annotations

import random

from clusterdns.corefile.model import Directive
from clusterdns.plugins.args import fail, max_args, no_block
from clusterdns.plugins.loadbalance.shuffle import shuffle
from clusterdns.plugins.plugin import Handler, Plugin, Reply, Request, SetupContext


class LoadBalance(Plugin):
    name = "loadbalance"

    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()

    async def serve(self, request: Request, next: Handler) -> Reply:
        reply = await next(request)
        if reply.wire is None:
            return reply
        shuffled = shuffle(reply.wire, self.rng)
        if shuffled is None:
            return reply
        # Every query gets its own order: such a reply must never be memoized.
        return Reply(shuffled, reply.rcode, reply.plugin, 0.0, reply.error)


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    max_args(directive, 1)
    no_block(directive)
    if directive.args and directive.args[0] != "round_robin":
        fail(directive, f"unknown policy: {directive.args[0]} (clusterdns has round_robin only)")
    return LoadBalance()
