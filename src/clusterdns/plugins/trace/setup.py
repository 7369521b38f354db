"""``trace [ENDPOINT-TYPE] [ENDPOINT] { ... }``: a span per query, exported over OTLP (CoreDNS's trace).

Importing this module imports OpenTelemetry's SDK (through ``handler``): without the
``[trace]`` extra it raises ImportError, which the registry reports with the pip line.
"""

from __future__ import annotations

import logging

from clusterdns.corefile.model import Directive
from clusterdns.plugins.plugin import Plugin, SetupContext
from clusterdns.plugins.trace.handler import Trace
from clusterdns.plugins.trace.options import parse

log = logging.getLogger("clusterdns.plugins.trace")


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    config = parse(directive)
    if config.client_server:
        # Zipkin's shared client/server spans need a trace context coming in with the
        # query; plain DNS carries none, so the option changes nothing here.
        log.warning(
            "[WARNING] plugin/trace: %s:%d: client_server has no effect with OTLP (ignored)",
            directive.file,
            directive.line,
        )
    return Trace(config, ctx.block_plugins)
