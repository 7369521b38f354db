"""``file DBFILE [ZONES...] { reload DURATION; reload_by_mtime; fallthrough [ZONES...] }`` -> ``FileConfig``.

As CoreDNS's plugin/file/setup.go: the zones are the arguments after the file
(a CIDR stands for its reverse zones) or the server block's; ``upstream`` is
accepted and ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

from clusterdns.corefile.model import Directive
from clusterdns.dns.names import absolute, origins
from clusterdns.plugins.args import beside_corefile, fail, parse_duration

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


def parse(directive: Directive, server_zones: tuple[str, ...]) -> FileConfig:
    if not directive.args:
        fail(directive, "file needs a zone file: file DBFILE [ZONES...]")
    path = beside_corefile(directive.args[0], directive)
    zones = tuple(z for arg in directive.args[1:] for z in origins(arg)) or server_zones
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
