"""``autopath [ZONE...] RESOLV-CONF`` or ``autopath [ZONE...] @kubernetes`` (CoreDNS plugin/autopath/setup.go).

The last argument is a resolv.conf whose search list is every client's, or
``@PLUGIN``: the plugin of this block that knows each client's search path
(``kubernetes``, with ``pods verified``).  The zones default to the block's.
"""

from __future__ import annotations

from clusterdns.corefile.model import Directive
from clusterdns.dns.names import absolute, normalize_zone
from clusterdns.plugins.args import fail
from clusterdns.plugins.plugin import Plugin, SetupContext


def parse(
    directive: Directive, block_zones: tuple[str, ...]
) -> tuple[tuple[str, ...], str, tuple[str, ...]]:
    """(zones, ``@plugin`` name or "", static search path ending with "")."""
    args = directive.args
    if not args:
        fail(directive, "no resolv-conf specified")
    if directive.block:
        fail(directive, f"unexpected block: '{directive.block[0].name}' (autopath has no options)")
    last = args[-1]
    zones = tuple(normalize_zone(z) for z in args[:-1]) or block_zones
    if last.startswith("@"):
        if last != "@kubernetes":
            fail(directive, f"{last[1:]} does not implement the AutoPather interface")
        return zones, last[1:], ()
    try:
        with open(last, encoding="utf-8", errors="replace") as stream:
            text = stream.read()
    except OSError as exc:
        fail(directive, f"failed to parse {last!r}: {exc.strerror}")
    search: tuple[str, ...] = ()
    for line in text.splitlines():
        words = line.split()
        if words and words[0] in ("search", "domain"):
            search = tuple(absolute(w.lower()) for w in words[1:])
    return zones, "", (*search, "")


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    from clusterdns.plugins.autopath.handler import AutoPath

    zones, via, search = parse(directive, ctx.zones)
    return AutoPath(zones, via, search, ctx.block_plugins, ctx.host)
