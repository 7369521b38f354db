"""The loadbalance handler: shuffle A, AAAA and MX records of NOERROR replies.

CoreDNS's loadbalance; ``prefer`` then moves addresses in the given subnets first.
"""

from __future__ import annotations

import random

from clusterdns.plugins.loadbalance.prefer import Network, prefer
from clusterdns.plugins.loadbalance.shuffle import shuffle
from clusterdns.plugins.plugin import Handler, Plugin, Reply, Request


class LoadBalance(Plugin):
    name = "loadbalance"
    replies_outlive_reload = True

    def __init__(self, rng: random.Random | None = None, subnets: tuple[Network, ...] = ()) -> None:
        self.rng = rng or random.Random()
        self.subnets = subnets

    async def serve(self, request: Request, next: Handler) -> Reply:
        reply = await next(request)
        if reply.wire is None:
            return reply
        shuffled = shuffle(reply.wire, self.rng)
        if self.subnets:
            shuffled = prefer(shuffled or reply.wire, self.subnets) or shuffled
        if shuffled is None:
            return reply
        # Every query gets its own order: such a reply must never be memoized.
        return Reply(shuffled, reply.rcode, reply.plugin, 0.0, reply.error)
