"""``cache [TTL] [ZONES...] { success | denial | prefetch | serve_stale | servfail | disable | keepttl }``.

As CoreDNS's plugin/cache/setup.go: each option of the block is parsed by its
own function (``OPTIONS``) into a new ``CacheConfig``; every value and error
text is CoreDNS's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from clusterdns.corefile.model import Directive
from clusterdns.dns.names import absolute
from clusterdns.plugins.args import fail, parse_duration, parse_int

PLUGIN = "cache"
MAX_TTL = 3600  # CoreDNS dnsutil.MaximumDefaultTTL: success cap
MAX_NTTL = MAX_TTL // 2  # denial cap, 1800 s
MIN_TTL = 5  # dnsutil.MinimalDefaultTTL: floor of both, and SERVFAIL's TTL
DEFAULT_CAPACITY = 10000
MAX_SERVFAIL_TTL = 300.0  # RFC 2308 7.1: never cache SERVFAIL longer than five minutes
DEFAULT_STALE_UP_TO = 3600.0  # serve_stale without a DURATION: one hour
MAX_STALE_RECHECK = 300.0


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
    config = CacheConfig()
    if args and args[0].lstrip("-").isdigit():
        ttl = int(args.pop(0))
        if ttl <= 0:
            fail(directive, f"cache TTL can not be zero or negative: {ttl}")
        config = replace(config, success_ttl=ttl, denial_ttl=ttl)
    config = replace(config, zones=tuple(absolute(a) for a in args) or server_zones)
    for option in directive.block:
        parse_option = OPTIONS.get(option.name)
        if parse_option is None:
            fail(option, f"unknown property '{option.name}'", PLUGIN)
        config = parse_option(option, config)
    if config.prefer_positive and not any(o.name == "serve_stale" for o in directive.block):
        fail(directive, "serve_stale_policy requires serve_stale")
    return config


def _ttl(text: str, option: Directive, minimum: int, what: str) -> int:
    value = parse_int(text, option, -(2**31), 2**31 - 1, what)
    if value < minimum:
        kind = "zero or negative" if minimum == 1 else "negative"
        fail(option, f"cache {what} can not be {kind}: {value}", PLUGIN)
    return value


def _capacity_and_ttls(option: Directive, ttl: int, min_ttl: int) -> tuple[int, int, int]:
    """``success|denial CAPACITY [TTL [MINTTL]]``: the values, ``ttl``/``min_ttl`` when not given."""
    args = option.args
    if not 1 <= len(args) <= 3:
        fail(option, f"{option.name} needs CAPACITY [TTL [MINTTL]]", PLUGIN)
    # CoreDNS takes any integer (its sharded cache keeps at least 1024 entries anyway);
    # a capacity below 1 is refused here, since it would not mean what it says.
    capacity = parse_int(args[0], option, 1, 2**31 - 1, "capacity")
    if len(args) > 1:
        ttl = _ttl(args[1], option, 1, "TTL")
    if len(args) > 2:
        min_ttl = _ttl(args[2], option, 0, "min TTL")
    return capacity, ttl, min_ttl


def _success(option: Directive, config: CacheConfig) -> CacheConfig:
    capacity, ttl, min_ttl = _capacity_and_ttls(option, config.success_ttl, config.success_min_ttl)
    return replace(config, success_capacity=capacity, success_ttl=ttl, success_min_ttl=min_ttl)


def _denial(option: Directive, config: CacheConfig) -> CacheConfig:
    capacity, ttl, min_ttl = _capacity_and_ttls(option, config.denial_ttl, config.denial_min_ttl)
    return replace(config, denial_capacity=capacity, denial_ttl=ttl, denial_min_ttl=min_ttl)


def _prefetch(option: Directive, config: CacheConfig) -> CacheConfig:
    args = option.args
    if not 1 <= len(args) <= 3:
        fail(option, "prefetch needs AMOUNT [DURATION [PERCENTAGE%]]", PLUGIN)
    config = replace(config, prefetch=parse_int(args[0], option, 0, 2**31 - 1, "prefetch amount"))
    if len(args) > 1:
        config = replace(config, prefetch_duration=parse_duration(args[1], option, PLUGIN))
    if len(args) > 2:
        if not args[2].endswith("%"):
            fail(
                option,
                f"last character of percentage should be `%`, but is: {args[2][-1]!r}",
                PLUGIN,
            )
        percentage = parse_int(args[2][:-1], option, 10, 90, "percentage")
        config = replace(config, prefetch_percentage=percentage)
    return config


def _serve_stale(option: Directive, config: CacheConfig) -> CacheConfig:
    """``serve_stale [DURATION] [immediate [RESPONSE_TTL [FAILURE_RECHECK]]
    | verify [VERIFY_TIMEOUT [RESPONSE_TTL [FAILURE_RECHECK]]]]``."""
    args = option.args
    if len(args) > 5:
        fail(option, "serve_stale takes at most five arguments", PLUGIN)
    up_to = parse_duration(args[0], option, PLUGIN) if args else DEFAULT_STALE_UP_TO
    verify = False
    if len(args) > 1:
        mode = args[1].lower()
        if mode not in ("immediate", "verify"):
            fail(option, f"invalid value for serve_stale refresh mode: {mode}", PLUGIN)
        verify = mode == "verify"
    config = replace(config, stale_up_to=up_to, verify_stale=verify)
    rest = list(args[2:])
    if verify and rest:
        config = replace(config, verify_timeout=parse_duration(rest.pop(0), option, PLUGIN))
    if len(rest) > 2:
        fail(option, f"unexpected argument {rest[2]!r}", PLUGIN)
    if rest:
        config = replace(config, stale_ttl=_stale_ttl(rest[0], option))
    if len(rest) > 1:
        recheck = parse_duration(rest[1], option, PLUGIN)
        if recheck > MAX_STALE_RECHECK:
            fail(option, "serve_stale failure recheck cannot exceed 5 minutes", PLUGIN)
        config = replace(config, stale_recheck=recheck)
    return config


def _stale_ttl(text: str, option: Directive) -> int:
    ttl = parse_duration(text, option, PLUGIN)
    if ttl != int(ttl):
        fail(option, "serve_stale response TTL must be a whole number of seconds", PLUGIN)
    if ttl > 2**32 - 1:
        fail(option, "serve_stale response TTL exceeds the DNS TTL range", PLUGIN)
    return int(ttl)


def _serve_stale_policy(option: Directive, config: CacheConfig) -> CacheConfig:
    args = option.args
    if config.prefer_positive:
        fail(option, "serve_stale_policy can only be specified once", PLUGIN)
    if len(args) != 1:
        fail(option, "serve_stale_policy needs one policy: prefer_positive", PLUGIN)
    if args[0].lower() != "prefer_positive":
        fail(option, f"invalid serve_stale_policy: {args[0]}", PLUGIN)
    return replace(config, prefer_positive=True)


def _servfail(option: Directive, config: CacheConfig) -> CacheConfig:
    if len(option.args) != 1:
        fail(option, "servfail needs one duration", PLUGIN)
    ttl = parse_duration(option.args[0], option, PLUGIN)
    if ttl > MAX_SERVFAIL_TTL:
        fail(option, "caching SERVFAIL responses over 5 minutes is not permitted", PLUGIN)
    return replace(config, servfail_ttl=ttl)


def _disable(option: Directive, config: CacheConfig) -> CacheConfig:
    args = option.args
    if not args or args[0] not in ("success", "denial"):
        fail(option, 'cache type for disable must be "success" or "denial"', PLUGIN)
    zones = tuple(absolute(z) for z in args[1:]) or (".",)
    if args[0] == "success":
        return replace(config, success_except=zones)
    return replace(config, denial_except=zones)


def _keepttl(option: Directive, config: CacheConfig) -> CacheConfig:
    if option.args:
        fail(option, "keepttl takes no arguments", PLUGIN)
    return replace(config, keepttl=True)


OPTIONS: dict[str, Callable[[Directive, CacheConfig], CacheConfig]] = {
    "success": _success,
    "denial": _denial,
    "prefetch": _prefetch,
    "serve_stale": _serve_stale,
    "serve_stale_policy": _serve_stale_policy,
    "servfail": _servfail,
    "disable": _disable,
    "keepttl": _keepttl,
}
