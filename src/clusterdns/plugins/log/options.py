"""``log [NAMES...] [FORMAT] { class CLASSES... }`` -> ``RuleConfig``s (CoreDNS's log plugin).

Argument rules follow CoreDNS's ``logParse``: no argument logs every name in
the common format; one argument is always a name; with two or more, the last
one is the format when it contains ``{``.
"""

from __future__ import annotations

from dataclasses import dataclass

from clusterdns.corefile.model import Directive
from clusterdns.dns.names import absolute
from clusterdns.plugins.args import fail
from clusterdns.plugins.log.format import (
    ALL,
    CLASSES,
    COMMON_FORMAT,
    expand_shortcuts,
)


@dataclass(frozen=True, slots=True)
class RuleConfig:
    """One name scope with its format and the response classes it logs."""

    scope: str
    format: str
    classes: frozenset[str]


def parse(directive: Directive) -> tuple[RuleConfig, ...]:
    args = list(directive.args)
    text = COMMON_FORMAT
    if len(args) >= 2 and "{" in args[-1]:
        text = expand_shortcuts(args.pop())
    scopes = [absolute(arg) for arg in args] or ["."]
    classes = parse_classes(directive)
    return tuple(RuleConfig(scope, text, classes) for scope in scopes)


def parse_classes(directive: Directive) -> frozenset[str]:
    """The ``class`` lines of the block, OR-ed; ``all`` when there are none."""
    classes: set[str] = set()
    for option in directive.block:
        if option.name != "class":
            fail(option, f"unknown property '{option.name}'", "log")
        if not option.args:
            fail(option, "class needs at least one of: all, success, denial, error", "log")
        for name in option.args:
            if name not in CLASSES:
                fail(option, f"invalid class {name!r} (use all, success, denial or error)", "log")
            classes.add(name)
    return frozenset(classes or {ALL})
