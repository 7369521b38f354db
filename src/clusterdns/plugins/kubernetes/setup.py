"""``kubernetes [ZONES...] { ... }``: the Kubernetes DNS spec served from cluster state."""

from __future__ import annotations

import dataclasses
import os

from clusterdns.cluster.kubeconfig import (
    Connection,
    KubeconfigError,
    from_endpoint,
    in_cluster,
    load_kubeconfig,
    ssl_context,
)
from clusterdns.cluster.proxyenv import with_environment_proxy
from clusterdns.corefile.model import Directive
from clusterdns.errors import ConfigError
from clusterdns.plugins.kubernetes.handler import Kubernetes
from clusterdns.plugins.kubernetes.options import PLUGIN, KubernetesOptions, parse_options
from clusterdns.plugins.plugin import Plugin, SetupContext
from clusterdns.plugins.views import inherited, view_key


def bound_addresses(ctx: SetupContext) -> tuple[str, ...]:
    """The addresses the block listens on (``bind``), or loopback when it binds every address.

    CoreDNS looks its bound addresses up among the endpoints to name the
    zone's NS; with a wildcard bind it uses every interface address, which we
    do not enumerate, so the NS falls back to ``ns.dns.<zone>`` -> 127.0.0.1.
    """
    return ctx.listen or ("127.0.0.1",)


def connection(opts: KubernetesOptions, env: dict[str, str]) -> Connection:
    """How to reach the API, in CoreDNS's order: kubeconfig, else endpoint (+ tls), else
    in-cluster; through ``proxy-url``, else the environment's proxy (proxyenv.py)."""
    if opts.kubeconfig:
        conn = load_kubeconfig(opts.kubeconfig, opts.kubeconfig_context)
    elif opts.endpoint:
        conn = from_endpoint(opts.endpoint, *(opts.tls or ("", "", "")))
    else:
        conn = in_cluster(env)
    return with_environment_proxy(conn, env)


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    opts = parse_options(directive, ctx.zones)
    key = view_key(ctx.keys, ctx.listen, directive)
    view = inherited(key)
    if view is not None:
        # a worker of `serve -workers`: the supervisor's list+watch feeds this view
        return Kubernetes(opts, bound_addresses(ctx), view_key=key, inherited=view)
    if opts.manifests:
        if not os.path.isabs(opts.manifests):
            # Relative to the Corefile, as hosts reads its file: a Corefile and its
            # cluster dump can move together.
            base = os.path.dirname(os.path.abspath(directive.file))
            opts = dataclasses.replace(opts, manifests=os.path.join(base, opts.manifests))
        return Kubernetes(opts, bound_addresses(ctx), view_key=key, predecessor=running(ctx))
    try:
        conn = connection(opts, dict(os.environ))
        ssl_context(conn)  # unreadable certificates are a start-up error, with the line
    except KubeconfigError as err:
        raise ConfigError(
            str(err), file=directive.file, line=directive.line, plugin=PLUGIN
        ) from None
    return Kubernetes(opts, bound_addresses(ctx), conn, view_key=key, predecessor=running(ctx))


def running(ctx: SetupContext) -> Kubernetes | None:
    """On reload, the running instance of this directive, whose state the new one takes."""
    return ctx.replacing if isinstance(ctx.replacing, Kubernetes) else None
