"""``autopath [ZONE...] RESOLV-CONF|@PLUGIN``: the client's search path walked on the server."""

from __future__ import annotations

from clusterdns.corefile.model import Directive
from clusterdns.plugins.args import fail
from clusterdns.plugins.autopath.handler import AutoPath
from clusterdns.plugins.autopath.options import AutoPathOptions, parse, resolv_search
from clusterdns.plugins.plugin import Plugin, SetupContext


def static_search(opts: AutoPathOptions, directive: Directive) -> tuple[str, ...]:
    """The search path of every client, ending with "" (the name itself); () with ``@PLUGIN``."""
    if opts.via:
        return ()
    path = opts.resolv_conf
    try:
        with open(path, encoding="utf-8", errors="replace") as stream:
            text = stream.read()
    except OSError as exc:
        # Go's wording, as CoreDNS prints it: failed to parse "x": open x: no such file or directory
        reason = (exc.strerror or str(exc)).lower()
        fail(directive, f'failed to parse "{path}": open {path}: {reason}')
    return (*resolv_search(text), "")


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    opts = parse(directive, ctx.zones)
    return AutoPath(opts, static_search(opts, directive), ctx.block_plugins, ctx.host, directive)
