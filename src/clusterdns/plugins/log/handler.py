"""The log handler: one line per query whose name and response class a rule selects."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from clusterdns.dns.names import is_subdomain
from clusterdns.plugins.log.format import (
    ALL,
    Getter,
    classify,
    compile_format,
    duration_seconds,
    render,
)
from clusterdns.plugins.plugin import Handler, Plugin, Reply, Request

# Lines start with "[INFO] " so clusterdns.server.run.CoreDNSFormatter prints them unchanged.
log = logging.getLogger("clusterdns.plugins.log")


@dataclass(frozen=True, slots=True)
class Rule:
    scope: str
    classes: frozenset[str]
    plan: tuple[Getter, ...]

    @classmethod
    def build(cls, scope: str, text: str, classes: frozenset[str]) -> Rule:
        return cls(scope, classes, compile_format(text))

    def matches(self, name: str) -> bool:
        return is_subdomain(name, self.scope)


class Log(Plugin):
    """Logs after the rest of the chain answered; the first rule whose scope holds the name wins."""

    name = "log"
    replies_outlive_reload = True
    memo_safe = False  # every query must reach the log, so no reply may skip the chain

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self.rules = rules

    async def serve(self, request: Request, next: Handler) -> Reply:
        name = request.query.name
        for rule in self.rules:
            if rule.matches(name):
                break
        else:
            return await next(request)
        start = time.perf_counter_ns()
        reply = await next(request)
        elapsed = duration_seconds(time.perf_counter_ns() - start)
        classes = rule.classes
        if ALL in classes or classify(request, reply) in classes:
            log.info("[INFO] " + render(rule.plan, request, reply, elapsed))
        return reply
