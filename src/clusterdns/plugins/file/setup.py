"""``file DBFILE [ZONES...] { reload DURATION; reload_by_mtime; fallthrough [ZONES...] }`` (CoreDNS's file)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from clusterdns.corefile.model import Directive
from clusterdns.dns.names import reverse_zones
from clusterdns.plugins.args import fail, parse_duration
from clusterdns.plugins.file.handler import File
from clusterdns.plugins.plugin import Plugin, SetupContext

DEFAULT_RELOAD = 60.0  # CoreDNS: one minute


@dataclass(frozen=True, slots=True)
class FileConfig:
    path: str
    zones: tuple[str, ...]
    reload: float = DEFAULT_RELOAD
    reload_by_mtime: bool = False
    fallthrough: tuple[str, ...] | None = None  # None: off; (): every zone
    file: str = ""  # where the directive was written, for messages
    line: int = 0


def absolute(name: str) -> str:
    name = name.lower()
    return name if name.endswith(".") else name + "."


def _origins(arg: str) -> list[str]:
    """A zone argument as CoreDNS's ``OriginsFromArgsOrServerBlock``: a CIDR is its reverse zones."""
    if "/" in arg:
        try:
            return reverse_zones(arg)
        except ValueError:
            pass
    return [absolute(arg)]


def parse(directive: Directive, server_zones: tuple[str, ...]) -> FileConfig:
    if not directive.args:
        fail(directive, "file needs a zone file: file DBFILE [ZONES...]")
    path = directive.args[0]
    if not os.path.isabs(path):
        path = os.path.join(os.path.dirname(os.path.abspath(directive.file)), path)
    zones = tuple(z for arg in directive.args[1:] for z in _origins(arg)) or server_zones
    reload, by_mtime, fallthrough = DEFAULT_RELOAD, False, None
    for option in directive.block:
        if option.name == "reload":
            if len(option.args) != 1:
                fail(option, "reload duration value is expected", "file")
            reload = parse_duration(option.args[0], option, "file")
        elif option.name == "reload_by_mtime":
            by_mtime = True
        elif option.name == "fallthrough":
            fallthrough = tuple(absolute(z) for z in option.args)
        elif option.name == "upstream":
            pass  # CoreDNS accepts and ignores it ("remove soon")
        else:
            fail(option, f"unknown property '{option.name}'", "file")
    return FileConfig(path, zones, reload, by_mtime, fallthrough, directive.file, directive.line)


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    plugin = File(parse(directive, ctx.zones), ctx.invalidate)
    plugin.load_at_start()
    return plugin
