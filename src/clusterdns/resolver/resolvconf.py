"""resolv.conf as the stub resolvers read it: parse, and the options each libc honours.

(Writing one is the kubelet's job: ``podconfig.kubelet.render_resolv_conf``.)

Sources (read for facts): man 5 resolv.conf; glibc resolv/res_init.c (MAXNS 3,
RES_MAXNDOTS 15, RES_MAXRETRANS 30, RES_MAXRETRY 5, "domain" and "search" override each
other, the last one wins); musl src/network/resolvconf.c (ndots <= 15, attempts <= 10,
timeout <= 60, only ndots/attempts/timeout are read from "options", a line of 255 or more
characters is skipped whole, the search buffer is 256 bytes).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

MAXNS = 3
# musl reads lines into char line[256]: a line that does not fit (with its newline) is skipped.
MUSL_LINE_MAX = 254


class Libc(enum.StrEnum):
    GLIBC = "glibc"
    MUSL = "musl"


@dataclass(frozen=True, slots=True)
class ResolvConf:
    """The lines of a resolv.conf, as written (no libc rule applied yet)."""

    nameservers: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    options: tuple[tuple[str, str | None], ...] = ()
    # Lines too long for musl's 256-byte line buffer, by keyword ("search", "options", ...).
    long_lines: frozenset[str] = field(default_factory=frozenset)

    def option(self, name: str) -> str | None:
        """The value of the last ``name:value`` option, '' for a bare flag, None when absent."""
        found: str | None = None
        for key, value in self.options:
            if key == name:
                found = value if value is not None else ""
        return found

    def has(self, name: str) -> bool:
        return self.option(name) is not None


def parse(text: str) -> ResolvConf:
    """Parse resolv.conf text the way glibc's res_init reads it (comments: '#' and ';')."""
    nameservers: list[str] = []
    search: tuple[str, ...] = ()
    options: list[tuple[str, str | None]] = []
    long_lines: set[str] = set()
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        fields = line.split()
        if not fields:
            continue
        keyword, args = fields[0], fields[1:]
        if len(raw) > MUSL_LINE_MAX:
            long_lines.add(keyword)
        if keyword == "nameserver" and args:
            nameservers.append(args[0])
        elif keyword == "domain" and args:
            search = (args[0].rstrip("."),)
        elif keyword == "search":
            search = tuple(s.rstrip(".") or "." for s in args)
        elif keyword == "options":
            options.extend(_parse_option(arg) for arg in args)
    return ResolvConf(tuple(nameservers), search, tuple(options), frozenset(long_lines))


def _parse_option(arg: str) -> tuple[str, str | None]:
    name, sep, value = arg.partition(":")
    return (name, value if sep else None)


# Options each libc acts on.  Anything else in the file is ignored by that libc.
GLIBC_OPTIONS = frozenset(
    {
        "ndots",
        "timeout",
        "attempts",
        "rotate",
        "single-request",
        "single-request-reopen",
        "use-vc",
        "edns0",
        "no-aaaa",
        "no-tld-query",
        "trust-ad",
        "no-reload",
        "no-check-names",
        "inet6",
        "debug",
        "ip6-bytestring",
        "ip6-dotint",
        "no-ip6-dotint",
    }
)
MUSL_OPTIONS = frozenset({"ndots", "timeout", "attempts"})


@dataclass(frozen=True, slots=True)
class Effective:
    """What one libc makes of a resolv.conf: the values its lookup code works with."""

    libc: Libc
    nameservers: tuple[str, ...]
    search: tuple[str, ...]
    ndots: int
    timeout: int
    attempts: int
    rotate: bool = False
    single_request: bool = False
    single_request_reopen: bool = False
    use_vc: bool = False
    edns0: bool = False
    no_aaaa: bool = False
    no_tld_query: bool = False
    ignored: tuple[str, ...] = ()


def _int_option(conf: ResolvConf, name: str, default: int, cap: int) -> int:
    value = conf.option(name)
    if not value:
        return default
    digits = ""
    for ch in value:
        if not ch.isdigit():
            break
        digits += ch
    if not digits:
        return default
    return min(int(digits), cap)


def effective(conf: ResolvConf, libc: Libc) -> Effective:
    """Apply one libc's limits, caps and ignored options to a parsed resolv.conf."""
    names = [name for name, _ in conf.options]
    if libc is Libc.MUSL:
        search = () if "search" in conf.long_lines or "domain" in conf.long_lines else conf.search
        known = MUSL_OPTIONS if "options" not in conf.long_lines else frozenset()
        return Effective(
            libc=libc,
            nameservers=conf.nameservers[:MAXNS],
            search=_musl_search_fit(search),
            ndots=_int_option(conf, "ndots", 1, 15) if known else 1,
            timeout=max(_int_option(conf, "timeout", 5, 60), 1) if known else 5,
            attempts=max(_int_option(conf, "attempts", 2, 10), 1) if known else 2,
            ignored=tuple(dict.fromkeys(n for n in names if n not in known)),
        )
    return Effective(
        libc=libc,
        nameservers=conf.nameservers[:MAXNS],
        search=conf.search,
        ndots=_int_option(conf, "ndots", 1, 15),
        timeout=max(_int_option(conf, "timeout", 5, 30), 1),
        attempts=max(_int_option(conf, "attempts", 2, 5), 1),
        rotate=conf.has("rotate"),
        single_request=conf.has("single-request"),
        single_request_reopen=conf.has("single-request-reopen"),
        use_vc=conf.has("use-vc"),
        edns0=conf.has("edns0"),
        no_aaaa=conf.has("no-aaaa"),
        no_tld_query=conf.has("no-tld-query"),
        ignored=tuple(dict.fromkeys(n for n in names if n not in GLIBC_OPTIONS)),
    )


def _musl_search_fit(search: tuple[str, ...]) -> tuple[str, ...]:
    # musl copies the search line into a 256-byte buffer.
    kept: list[str] = []
    used = 0
    for domain in search:
        used += len(domain) + (1 if kept else 0)
        if used >= 256:
            break
        kept.append(domain)
    return tuple(kept)
