"""Helpers every plugin's parse step uses: argument counts, durations, errors with a place."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, NoReturn

from clusterdns.errors import ConfigError

if TYPE_CHECKING:
    from clusterdns.corefile.model import Directive

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def fail(directive: Directive, message: str, plugin: str | None = None) -> NoReturn:
    """Raise a ConfigError that reads ``plugin/<name>: <file>:<line>: <message>``."""
    raise ConfigError(
        message, file=directive.file, line=directive.line, plugin=plugin or directive.name
    )


def parse_duration(text: str, directive: Directive, plugin: str | None = None) -> float:
    """A Go duration (``5s``, ``1m30s``, ``250ms``) in seconds."""
    if text == "0":  # Go's ParseDuration accepts a bare zero
        return 0.0
    position = 0
    total = 0.0
    for match in _DURATION.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position != len(text) or not text:
        fail(directive, f"invalid duration {text!r} (use Go's form: 5s, 250ms, 1m30s)", plugin)
    return total


def parse_int(text: str, directive: Directive, low: int, high: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        fail(directive, f"{what} must be a number, not {text!r}")
    if not low <= value <= high:
        fail(directive, f"{what} must be between {low} and {high}, not {value}")
    return value


def no_block(directive: Directive) -> None:
    if directive.block:
        fail(
            directive, f"unexpected block: '{directive.block[0].name}' (this plugin has no options)"
        )


def max_args(directive: Directive, count: int) -> None:
    if len(directive.args) > count:
        fail(directive, f"unexpected argument {directive.args[count]!r}")
