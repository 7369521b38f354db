"""``rewrite [continue|stop] FIELD [TYPE] [FROM TO|TTL|...] [OPTIONS]`` -> one ``Rule`` (CoreDNS's rewrite).

The block form ``rewrite [continue|stop] { FIELD ... }`` reads the block's words as if they
followed the directive on one line, as CoreDNS does.
"""

from __future__ import annotations

from clusterdns.corefile.model import Directive
from clusterdns.plugins.args import fail
from clusterdns.plugins.rewrite.rules import Rule, RuleError, parse_rule


def parse(directive: Directive) -> Rule:
    words = list(directive.args)
    if len(words) < 2:
        for line in directive.block:
            words.extend((line.name, *line.args))
    elif directive.block:
        fail(directive, "a rewrite rule is written on one line or in a block, not both")
    try:
        return parse_rule(words)
    except RuleError as exc:
        fail(directive, str(exc))
