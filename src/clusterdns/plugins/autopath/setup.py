"""``autopath [ZONE...] RESOLV-CONF`` or ``autopath [ZONE...] @kubernetes`` (CoreDNS plugin/autopath/setup.go).

The last argument is a resolv.conf whose search list is every client's, or
``@PLUGIN``: the plugin of this block that knows each client's search path
(``kubernetes``, with ``pods verified``); which plugin that is, is checked when
the server starts (CoreDNS's OnStartup).  The zones default to the block's; a
CIDR zone stands for its reverse zones (``10.0.0.0/8`` -> ``10.in-addr.arpa.``).
"""

from __future__ import annotations

from clusterdns.corefile.model import Directive
from clusterdns.dns.names import absolute, normalize_zone, reverse_zones
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
    zones = tuple(z for arg in args[:-1] for z in origins(arg)) or block_zones
    if last.startswith("@"):
        return zones, last[1:], ()
    try:
        with open(last, encoding="utf-8", errors="replace") as stream:
            text = stream.read()
    except OSError as exc:
        # Go's wording, as CoreDNS prints it: failed to parse "x": open x: no such file or directory
        reason = (exc.strerror or str(exc)).lower()
        fail(directive, f'failed to parse "{last}": open {last}: {reason}')
    return zones, "", (*resolv_search(text), "")


def origins(arg: str) -> list[str]:
    """A zone argument as CoreDNS's ``OriginsFromArgsOrServerBlock``: a CIDR is its reverse zones."""
    if "/" in arg:
        try:
            return reverse_zones(arg)
        except ValueError:
            pass
    return [normalize_zone(arg)]


def resolv_search(text: str) -> tuple[str, ...]:
    """The search list of resolv.conf ``text`` as miekg/dns ``ClientConfigFromReader`` reads it.

    The last ``search`` or ``domain`` line wins; ``domain`` gives its first word alone.
    """
    search: tuple[str, ...] = ()
    for line in text.splitlines():
        words = line.split()
        if words and words[0] == "search":
            search = tuple(absolute(w) for w in words[1:])
        elif words and words[0] == "domain":
            search = tuple(absolute(w) for w in words[1:2])
    return search


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    from clusterdns.plugins.autopath.handler import AutoPath

    zones, via, search = parse(directive, ctx.zones)
    return AutoPath(zones, via, search, ctx.block_plugins, ctx.host, directive)
