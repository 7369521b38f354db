"""``fallthrough [ZONES...]``: which NXDOMAIN answers go on to the next plugin (CoreDNS ``pkg/fall``).

CoreDNS's ``fall.F``: the zero value falls through for nothing; ``fallthrough``
without zones sets the zones to ``.``, which holds every name; with zones, only
names in them (``plugin.Zones.Matches``) fall through.  ``fallthrough .`` is
therefore the same as a bare ``fallthrough``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from clusterdns.dns.names import ROOT, in_zones, normalize_zone


@dataclass(frozen=True, slots=True)
class Fall:
    """The zones whose misses fall through; empty: none (no ``fallthrough`` line)."""

    zones: tuple[str, ...] = ()

    @classmethod
    def from_args(cls, args: Iterable[str]) -> Fall:
        """The zones of a ``fallthrough`` line: none given means every name."""
        zones = tuple(dict.fromkeys(normalize_zone(arg) for arg in args))
        return cls(zones or (ROOT,))

    def through(self, name: str) -> bool:
        """Whether a miss for absolute, lower-case ``name`` goes to the next plugin."""
        return in_zones(name, self.zones)


NEVER = Fall()
