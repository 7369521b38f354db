"""``loadbalance [round_robin] { prefer CIDR... }`` -> ``LoadBalanceConfig`` (CoreDNS's loadbalance)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from clusterdns.corefile.model import Directive
from clusterdns.plugins.args import fail
from clusterdns.plugins.loadbalance.prefer import Network

PLUGIN = "loadbalance"


@dataclass(frozen=True, slots=True)
class LoadBalanceConfig:
    #: ``prefer``: addresses in these subnets go first, after the shuffle
    subnets: tuple[Network, ...] = ()


def parse(directive: Directive) -> LoadBalanceConfig:
    args = directive.args
    if args and args[0] != "round_robin":
        fail(directive, f"unknown policy: {args[0]} (clusterdns has round_robin only)")
    if len(args) > 1:
        fail(directive, f"unknown property for {args[0]}")
    subnets: list[Network] = []
    for option in directive.block:
        if option.name != "prefer":
            fail(option, f"unknown property '{option.name}'", PLUGIN)
        subnets.extend(_cidr(cidr, option) for cidr in option.args)
    return LoadBalanceConfig(tuple(subnets))


def _cidr(text: str, option: Directive) -> Network:
    if "/" in text:
        try:
            return ipaddress.ip_network(text, strict=False)
        except ValueError:
            pass
    fail(option, f"invalid CIDR {text!r}", PLUGIN)
