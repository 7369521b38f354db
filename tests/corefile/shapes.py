"""Compact views of parse results, so tables of cases stay readable."""

from __future__ import annotations

from typing import Any

from clusterdns.corefile import Directive, ServerBlock


def directive_shape(directive: Directive) -> list[Any]:
    """``["forward", ".", "1.2.3.4", [["force_tcp"]]]``: a trailing list is the block."""
    shape: list[Any] = [directive.name, *directive.args]
    if directive.block:
        shape.append([directive_shape(inner) for inner in directive.block])
    return shape


def shape(blocks: tuple[ServerBlock, ...]) -> list[Any]:
    return [(list(b.keys), [directive_shape(d) for d in b.directives]) for b in blocks]
