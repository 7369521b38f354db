"""``errors``: logs the errors handlers return (minimal; consolidate to come)."""

from __future__ import annotations

import logging

from clusterdns.corefile.model import Directive
from clusterdns.plugins.plugin import Handler, Plugin, Reply, Request, SetupContext

log = logging.getLogger("clusterdns.plugins.errors")


class Errors(Plugin):
    name = "errors"

    async def serve(self, request: Request, next: Handler) -> Reply:
        reply = await next(request)
        if reply.error:
            log.error("[ERROR] plugin/errors: %d %s %s", reply.rcode, request.name, reply.error)
        return reply


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    return Errors()
