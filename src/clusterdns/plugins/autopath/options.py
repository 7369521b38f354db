"""``autopath [ZONE...] RESOLV-CONF`` or ``autopath [ZONE...] @kubernetes`` -> ``AutoPathOptions``.

As CoreDNS's plugin/autopath/setup.go: the last argument is a resolv.conf whose
search list is every client's, or ``@PLUGIN``: the plugin of this block that knows
each client's search path (``kubernetes``, with ``pods verified``); which plugin that
is, is checked when the server starts (CoreDNS's OnStartup).  The zones default to the
block's; a CIDR zone stands for its reverse zones (``10.0.0.0/8`` -> ``10.in-addr.arpa.``).
The resolv.conf is read by setup; ``resolv_search`` reads its text.
"""

from __future__ import annotations

from dataclasses import dataclass

from clusterdns.corefile.model import Directive
from clusterdns.dns.names import absolute, normalize_zone, reverse_zones
from clusterdns.plugins.args import fail


@dataclass(frozen=True, slots=True)
class AutoPathOptions:
    zones: tuple[str, ...]
    #: the ``@PLUGIN`` that gives each client's search path, or "" for a resolv.conf
    via: str = ""
    #: RESOLV-CONF, the file whose search list is every client's (when ``via`` is "")
    resolv_conf: str = ""


def parse(directive: Directive, block_zones: tuple[str, ...]) -> AutoPathOptions:
    args = directive.args
    if not args:
        fail(directive, "no resolv-conf specified")
    if directive.block:
        fail(directive, f"unexpected block: '{directive.block[0].name}' (autopath has no options)")
    last = args[-1]
    zones = tuple(z for arg in args[:-1] for z in origins(arg)) or block_zones
    if last.startswith("@"):
        return AutoPathOptions(zones, via=last[1:])
    return AutoPathOptions(zones, resolv_conf=last)


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
