"""``template CLASS TYPE [ZONE...] { ... }``: answers built from Go templates (CoreDNS's template)."""

from __future__ import annotations

from clusterdns.corefile.model import Directive
from clusterdns.plugins.plugin import Plugin, SetupContext
from clusterdns.plugins.template.handler import TemplatePlugin
from clusterdns.plugins.template.options import parse


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    return TemplatePlugin(parse(directive, ctx.zones))
