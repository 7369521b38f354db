"""``etcd [ZONES...] { ... }``: SkyDNS records kept in etcd, followed by a watch (CoreDNS's etcd)."""

from __future__ import annotations

from clusterdns.corefile.model import Directive
from clusterdns.plugins.etcd.handler import Etcd
from clusterdns.plugins.etcd.options import parse
from clusterdns.plugins.plugin import Plugin, SetupContext


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    return Etcd(parse(directive, ctx.zones))
