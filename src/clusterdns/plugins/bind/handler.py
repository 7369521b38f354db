"""``bind ADDRESS|IFACE... { except ADDRESS|IFACE... }``: where a server block listens (config only).

As CoreDNS's plugin/bind (setup.go): each argument is an IP address or the
name of an interface, which stands for every address of that interface at
start-up or reload; ``except`` removes addresses from its own line only;
several ``bind`` lines in a block are consolidated into one list.

A small plugin: its parse and its (config only) plugin in one module.  The interfaces'
addresses are passed in (``interfaces.interface_addresses`` at setup).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence

from clusterdns.corefile.model import Directive
from clusterdns.plugins.args import fail
from clusterdns.plugins.plugin import Plugin

Interfaces = Callable[[], Mapping[str, Sequence[str]]]


class Bind(Plugin):
    """Config only: the server listens on ``hosts`` instead of the wildcard address."""

    name = "bind"
    replies_outlive_reload = True
    handles_queries = False

    def __init__(self, hosts: tuple[str, ...]) -> None:
        self.hosts = hosts

    def listen_hosts(self) -> tuple[str, ...]:
        return self.hosts


def parse(directive: Directive, interfaces: Interfaces) -> tuple[str, ...]:
    """The addresses of one ``bind`` line, minus its ``except`` ones.

    ``interfaces`` gives each interface's addresses; asked once, and only when an
    argument is not an IP address.
    """
    if not directive.args:
        fail(directive, "at least one address or interface name is expected")
    excluded: list[str] = []
    known: Mapping[str, Sequence[str]] | None = None

    def addresses(args: Sequence[str], where: Directive) -> list[str]:
        nonlocal known
        out: list[str] = []
        for arg in args:
            try:
                out.append(str(ipaddress.ip_address(arg)))
                continue
            except ValueError:
                pass
            if known is None:
                known = interfaces()
            if arg not in known:
                fail(where, f"not a valid IP address or interface name: {arg!r}", "bind")
            out.extend(known[arg])
        return out

    for option in directive.block:
        if option.name != "except":
            fail(option, f"invalid option {option.name!r}", "bind")
        if not option.args:
            fail(option, "at least one address or interface must be given to except", "bind")
        excluded.extend(addresses(option.args, option))
    hosts = [h for h in addresses(directive.args, directive) if h not in excluded]
    if not hosts:
        fail(directive, "every address is excluded: nothing left to listen on")
    return tuple(dict.fromkeys(hosts))
