"""``kubernetes [ZONES...] { ... }``: the Kubernetes DNS spec served from cluster state."""

from __future__ import annotations

from clusterdns.corefile.model import Directive
from clusterdns.plugins.kubernetes.handler import Kubernetes
from clusterdns.plugins.kubernetes.options import parse_options
from clusterdns.plugins.plugin import Plugin, SetupContext


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    return Kubernetes(parse_options(directive, ctx.zones), ctx.invalidate)
