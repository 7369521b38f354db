"""``kubernetes [ZONES...] { ... }``: the Kubernetes DNS spec served from cluster state."""

from __future__ import annotations

import dataclasses
import os

from clusterdns.corefile.model import Directive
from clusterdns.plugins.kubernetes.handler import Kubernetes
from clusterdns.plugins.kubernetes.options import parse_options
from clusterdns.plugins.plugin import Plugin, SetupContext


def bound_addresses(ctx: SetupContext) -> tuple[str, ...]:
    """The addresses the block listens on (``bind``), or loopback when it binds every address.

    CoreDNS looks its bound addresses up among the endpoints to name the
    zone's NS; with a wildcard bind it uses every interface address, which we
    do not enumerate, so the NS falls back to ``ns.dns.<zone>`` -> 127.0.0.1.
    """
    return ctx.listen or ("127.0.0.1",)


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    opts = parse_options(directive, ctx.zones)
    if opts.manifests and not os.path.isabs(opts.manifests):
        # Relative to the Corefile, as hosts reads its file: a Corefile and its
        # cluster dump can move together.
        base = os.path.dirname(os.path.abspath(directive.file))
        opts = dataclasses.replace(opts, manifests=os.path.join(base, opts.manifests))
    return Kubernetes(opts, ctx.invalidate, bound_addresses(ctx))
