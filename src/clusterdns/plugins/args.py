"""Helpers every plugin's parse step uses: argument counts, numbers, durations, errors with a place.

Every error reads ``plugin/<name>: <file>:<line>: <what is wrong>``: the helpers
take the plugin's name for the options inside its block, and the server puts
the directive's name on any error a setup lets through without one.
"""

from __future__ import annotations

import os
import re
from typing import NoReturn

from clusterdns.corefile.model import Directive
from clusterdns.errors import ConfigError

# Go's time.ParseDuration: [-+]? then one or more of a decimal (digits before or
# after the point, or both) and a unit; "0" alone needs no unit.
_PART = re.compile(r"(\d*)(?:\.(\d*))?(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")
_UNITS = {
    "ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
    "h": 3600.0,
}  # fmt: skip


def fail(directive: Directive, message: str, plugin: str | None = None) -> NoReturn:
    """Raise a ConfigError that reads ``plugin/<name>: <file>:<line>: <message>``."""
    raise ConfigError(
        message, file=directive.file, line=directive.line, plugin=plugin or directive.name
    )


def go_duration(text: str) -> float:
    """A Go duration (``5s``, ``1m30s``, ``.5s``, ``250ms``) in seconds; ValueError when it is not one.

    The same grammar as Go's ``time.ParseDuration``, which CoreDNS uses for every
    duration option: an optional sign, then decimals each with a unit.
    """
    body = text[1:] if text[:1] in ("-", "+") else text
    if body == "0":
        return 0.0
    position, total = 0, 0.0
    while position < len(body):
        match = _PART.match(body, position)
        if match is None or not (match.group(1) or match.group(2)):
            raise ValueError(f"invalid duration {text!r} (use Go's form: 5s, 250ms, 1m30s)")
        whole, fraction, unit = match.group(1) or "0", match.group(2) or "0", match.group(3)
        total += float(f"{whole}.{fraction}") * _UNITS[unit]
        position = match.end()
    if not body:
        raise ValueError(f"invalid duration {text!r} (use Go's form: 5s, 250ms, 1m30s)")
    return -total if text.startswith("-") else total


def parse_duration(text: str, directive: Directive, plugin: str | None = None) -> float:
    """``go_duration`` for a directive's argument: a bad or negative value names the place."""
    try:
        seconds = go_duration(text)
    except ValueError as exc:
        fail(directive, str(exc), plugin)
    if seconds < 0:
        fail(directive, f"duration {text!r} must not be negative", plugin)
    return seconds


def parse_int(
    text: str, directive: Directive, low: int, high: int, what: str, plugin: str | None = None
) -> int:
    try:
        value = int(text)
    except ValueError:
        fail(directive, f"{what} must be a number, not {text!r}", plugin)
    if not low <= value <= high:
        fail(directive, f"{what} must be between {low} and {high}, not {value}", plugin)
    return value


def no_block(directive: Directive) -> None:
    if directive.block:
        fail(
            directive, f"unexpected block: '{directive.block[0].name}' (this plugin has no options)"
        )


def max_args(directive: Directive, count: int) -> None:
    if len(directive.args) > count:
        fail(directive, f"unexpected argument {directive.args[count]!r}")


def no_options(directive: Directive) -> None:
    """The parse of a directive that takes no arguments and no block (``whoami``, ``loop``...)."""
    max_args(directive, 0)
    no_block(directive)


GO_TRUE = frozenset(("1", "t", "T", "true", "TRUE", "True"))
GO_FALSE = frozenset(("0", "f", "F", "false", "FALSE", "False"))


def parse_bool(text: str, directive: Directive, what: str, plugin: str | None = None) -> bool:
    """Go's ``strconv.ParseBool``, which CoreDNS uses for boolean options (``1``, ``t``, ``true``...)."""
    if text in GO_TRUE:
        return True
    if text in GO_FALSE:
        return False
    fail(directive, f"{what} must be true or false, not {text!r}", plugin)


def listen_address(directive: Directive, plugin: str | None = None) -> str | None:
    """The directive's ADDRESS argument, HOST:PORT as Go's ``net.SplitHostPort`` wants it.

    health, ready and prometheus refuse an address without a port (``localhost``)
    or with bare IPv6 colons (``::1:8080``), as CoreDNS does; None when not given.
    """
    if not directive.args:
        return None
    address = directive.args[0]
    if address.startswith("["):
        close = address.find("]")
        if close < 0:
            fail(directive, f"address {address}: missing ']' in address", plugin)
        if not address[close + 1 :].startswith(":"):
            fail(directive, f"address {address}: missing port in address", plugin)
    elif ":" not in address:
        fail(directive, f"address {address}: missing port in address", plugin)
    elif address.count(":") > 1:
        fail(directive, f"address {address}: too many colons in address", plugin)
    return address


def beside_corefile(path: str, directive: Directive) -> str:
    """``path`` as written in the directive: a relative one is taken from the Corefile's folder."""
    if os.path.isabs(path):
        return path
    return os.path.join(os.path.dirname(os.path.abspath(directive.file)), path)
