"""``cache [TTL] [ZONES...] { success | denial | prefetch | serve_stale | servfail | disable | keepttl }``."""

from __future__ import annotations

from dataclasses import dataclass

from clusterdns.corefile.model import Directive
from clusterdns.dns.names import absolute
from clusterdns.plugins.args import fail, parse_duration, parse_int
from clusterdns.plugins.plugin import Plugin, SetupContext

MAX_TTL = 3600  # CoreDNS dnsutil.MaximumDefaultTTL: success cap
MAX_NTTL = MAX_TTL // 2  # denial cap, 1800 s
MIN_TTL = 5  # dnsutil.MinimalDefaultTTL: floor of both, and SERVFAIL's TTL
DEFAULT_CAPACITY = 10000
MAX_SERVFAIL_TTL = 300.0  # RFC 2308 7.1: never cache SERVFAIL longer than five minutes


@dataclass(frozen=True, slots=True)
class CacheConfig:
    zones: tuple[str, ...] = (".",)
    success_capacity: int = DEFAULT_CAPACITY
    success_ttl: int = MAX_TTL
    success_min_ttl: int = MIN_TTL
    denial_capacity: int = DEFAULT_CAPACITY
    denial_ttl: int = MAX_NTTL
    denial_min_ttl: int = MIN_TTL
    servfail_ttl: float = MIN_TTL
    prefetch: int = 0
    prefetch_duration: float = 60.0
    prefetch_percentage: int = 10
    stale_up_to: float = 0.0
    verify_stale: bool = False
    verify_timeout: float = 0.0  # serve_stale verify VERIFY_TIMEOUT; 0: the upstream's own
    stale_ttl: int = 0  # serve_stale RESPONSE_TTL: the TTL of stale replies
    stale_recheck: float = 0.0  # serve_stale FAILURE_RECHECK
    prefer_positive: bool = False  # serve_stale_policy prefer_positive
    success_except: tuple[str, ...] = ()
    denial_except: tuple[str, ...] = ()
    keepttl: bool = False

    @property
    def zones_label(self) -> str:
        return ",".join(self.zones)


def parse(directive: Directive, server_zones: tuple[str, ...]) -> CacheConfig:
    args = list(directive.args)
    values: dict[str, object] = {}
    if args and args[0].lstrip("-").isdigit():
        ttl = int(args.pop(0))
        if ttl <= 0:
            fail(directive, f"cache TTL can not be zero or negative: {ttl}")
        values["success_ttl"] = values["denial_ttl"] = ttl
    values["zones"] = tuple(absolute(a) for a in args) or server_zones
    for option in directive.block:
        _parse_option(option, values)
    if "prefer_positive" in values and "stale_up_to" not in values:
        fail(directive, "serve_stale_policy requires serve_stale")
    return CacheConfig(**values)  # type: ignore[arg-type]


def _ttl(text: str, option: Directive, minimum: int, what: str) -> int:
    value = parse_int(text, option, -(2**31), 2**31 - 1, what)
    if value < minimum:
        kind = "zero or negative" if minimum == 1 else "negative"
        fail(option, f"cache {what} can not be {kind}: {value}", "cache")
    return value


def _parse_option(option: Directive, values: dict[str, object]) -> None:
    name, args = option.name, option.args
    if name in ("success", "denial"):
        if not 1 <= len(args) <= 3:
            fail(option, f"{name} needs CAPACITY [TTL [MINTTL]]", "cache")
        # CoreDNS takes any integer (its sharded cache keeps at least 1024 entries anyway);
        # a capacity below 1 is refused here, since it would not mean what it says.
        values[f"{name}_capacity"] = parse_int(args[0], option, 1, 2**31 - 1, "capacity")
        if len(args) > 1:
            values[f"{name}_ttl"] = _ttl(args[1], option, 1, "TTL")
        if len(args) > 2:
            values[f"{name}_min_ttl"] = _ttl(args[2], option, 0, "min TTL")
    elif name == "prefetch":
        if not 1 <= len(args) <= 3:
            fail(option, "prefetch needs AMOUNT [DURATION [PERCENTAGE%]]", "cache")
        values["prefetch"] = parse_int(args[0], option, 0, 2**31 - 1, "prefetch amount")
        if len(args) > 1:
            values["prefetch_duration"] = parse_duration(args[1], option, "cache")
        if len(args) > 2:
            if not args[2].endswith("%"):
                fail(
                    option,
                    f"last character of percentage should be `%`, but is: {args[2][-1]!r}",
                    "cache",
                )
            values["prefetch_percentage"] = parse_int(args[2][:-1], option, 10, 90, "percentage")
    elif name == "serve_stale":
        _parse_serve_stale(option, values)
    elif name == "serve_stale_policy":
        if "prefer_positive" in values:
            fail(option, "serve_stale_policy can only be specified once", "cache")
        if len(args) != 1:
            fail(option, "serve_stale_policy needs one policy: prefer_positive", "cache")
        if args[0].lower() != "prefer_positive":
            fail(option, f"invalid serve_stale_policy: {args[0]}", "cache")
        values["prefer_positive"] = True
    elif name == "servfail":
        if len(args) != 1:
            fail(option, "servfail needs one duration", "cache")
        ttl = parse_duration(args[0], option, "cache")
        if ttl > MAX_SERVFAIL_TTL:
            fail(option, "caching SERVFAIL responses over 5 minutes is not permitted", "cache")
        values["servfail_ttl"] = ttl
    elif name == "disable":
        if not args or args[0] not in ("success", "denial"):
            fail(option, 'cache type for disable must be "success" or "denial"', "cache")
        zones = tuple(absolute(z) for z in args[1:]) or (".",)
        values[f"{args[0]}_except"] = zones
    elif name == "keepttl":
        if args:
            fail(option, "keepttl takes no arguments", "cache")
        values["keepttl"] = True
    else:
        fail(option, f"unknown property '{name}'", "cache")


def _parse_serve_stale(option: Directive, values: dict[str, object]) -> None:
    """``serve_stale [DURATION] [immediate [RESPONSE_TTL [FAILURE_RECHECK]]
    | verify [VERIFY_TIMEOUT [RESPONSE_TTL [FAILURE_RECHECK]]]]``."""
    args = option.args
    if len(args) > 5:
        fail(option, "serve_stale takes at most five arguments", "cache")
    values["stale_up_to"] = parse_duration(args[0], option, "cache") if args else 3600.0
    verify = False
    if len(args) > 1:
        mode = args[1].lower()
        if mode not in ("immediate", "verify"):
            fail(option, f"invalid value for serve_stale refresh mode: {mode}", "cache")
        verify = mode == "verify"
    values["verify_stale"] = verify
    rest = list(args[2:])
    if verify and rest:
        values["verify_timeout"] = parse_duration(rest.pop(0), option, "cache")
    if len(rest) > 2:
        fail(option, f"unexpected argument {rest[2]!r}", "cache")
    if rest:
        ttl = parse_duration(rest[0], option, "cache")
        if ttl != int(ttl):
            fail(option, "serve_stale response TTL must be a whole number of seconds", "cache")
        if ttl > 2**32 - 1:
            fail(option, "serve_stale response TTL exceeds the DNS TTL range", "cache")
        values["stale_ttl"] = int(ttl)
    if len(rest) > 1:
        recheck = parse_duration(rest[1], option, "cache")
        if recheck > 300:
            fail(option, "serve_stale failure recheck cannot exceed 5 minutes", "cache")
        values["stale_recheck"] = recheck


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    from clusterdns.plugins.cache.handler import Cache

    config = parse(directive, ctx.zones)
    return Cache(config, host=ctx.host, block_zones=ctx.zones)
