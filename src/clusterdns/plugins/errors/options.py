"""``errors [stdout] { stacktrace; consolidate DURATION REGEXP [LEVEL] [show_first] }`` -> ``ErrorsConfig``.

As CoreDNS's plugin/errors/setup.go: a bad regexp or duration stops the server at start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from clusterdns.corefile.model import Directive
from clusterdns.plugins.args import fail, parse_duration
from clusterdns.plugins.errors.consolidate import LEVELS, SECOND, Pattern

MAX_REGEXP_LENGTH = 10_000  # CoreDNS maxRegexpLen: bounds the cost of compiling a hostile pattern


@dataclass(frozen=True, slots=True)
class ErrorsConfig:
    patterns: tuple[Pattern, ...] = ()
    stacktrace: bool = False


def parse(directive: Directive) -> ErrorsConfig:
    if len(directive.args) > 1:
        fail(directive, f"unexpected argument {directive.args[1]!r}")
    if directive.args and directive.args[0] != "stdout":
        fail(directive, f"invalid log file: {directive.args[0]} (only stdout is supported)")
    patterns: list[Pattern] = []
    stacktrace = False
    for option in directive.block:
        if option.name == "stacktrace":
            if option.args:
                fail(option, "stacktrace takes no arguments", "errors")
            stacktrace = True
        elif option.name == "consolidate":
            patterns.append(parse_consolidate(option))
        else:
            fail(option, f"unknown field '{option.name}' (use stacktrace or consolidate)", "errors")
    return ErrorsConfig(tuple(patterns), stacktrace)


def parse_consolidate(option: Directive) -> Pattern:
    args = option.args
    if not 2 <= len(args) <= 4:
        fail(option, "consolidate needs DURATION REGEXP [LEVEL] [show_first]", "errors")
    seconds = parse_duration(args[0], option, "errors")
    if len(args[1]) > MAX_REGEXP_LENGTH:
        fail(option, f"regex pattern too long: {len(args[1])} > {MAX_REGEXP_LENGTH}", "errors")
    try:
        regexp = re.compile(args[1])
    except re.error as exc:
        fail(option, f"invalid regular expression {args[1]!r}: {exc}", "errors")
    level, show_first = parse_level_and_show_first(option, args[2:])
    return Pattern(round(seconds * SECOND), regexp, level, show_first)


def parse_level_and_show_first(option: Directive, args: tuple[str, ...]) -> tuple[str, bool]:
    """Optional LEVEL then optional ``show_first``, in that order (CoreDNS parseOptionalParams)."""
    level: str | None = None
    show_first = False
    for arg in args:
        if arg in LEVELS:
            if level is not None:
                fail(option, "multiple log levels specified in consolidate", "errors")
            if show_first:
                fail(option, "log level must come before show_first in consolidate", "errors")
            level = arg
        elif arg == "show_first":
            show_first = True
        else:
            fail(
                option,
                f"unknown option in consolidate: {arg} (use warning, error, info, debug or show_first)",
                "errors",
            )
    return level or "error", show_first
