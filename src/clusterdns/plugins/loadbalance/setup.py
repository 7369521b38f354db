"""``loadbalance [round_robin] { prefer CIDR... }``: shuffle A, AAAA and MX records of NOERROR replies.

CoreDNS's loadbalance; ``prefer`` then moves addresses in the given subnets first.
"""

from __future__ import annotations

import ipaddress
import random

from clusterdns.corefile.model import Directive
from clusterdns.plugins.args import fail
from clusterdns.plugins.loadbalance.prefer import Network, prefer
from clusterdns.plugins.loadbalance.shuffle import shuffle
from clusterdns.plugins.plugin import Handler, Plugin, Reply, Request, SetupContext


class LoadBalance(Plugin):
    name = "loadbalance"

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


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    args = directive.args
    if args and args[0] != "round_robin":
        fail(directive, f"unknown policy: {args[0]} (clusterdns has round_robin only)")
    if len(args) > 1:
        fail(directive, f"unknown property for {args[0]}")
    subnets: list[Network] = []
    for option in directive.block:
        if option.name != "prefer":
            fail(option, f"unknown property '{option.name}'", "loadbalance")
        for cidr in option.args:
            try:
                if "/" not in cidr:
                    raise ValueError(cidr)
                subnets.append(ipaddress.ip_network(cidr, strict=False))
            except ValueError:
                fail(option, f"invalid CIDR {cidr!r}", "loadbalance")
    return LoadBalance(subnets=tuple(subnets))
