"""``reload [INTERVAL] [JITTER]``: poll the Corefile and swap in a changed one (CoreDNS's reload).

Every INTERVAL (default 30 s, at least 2 s, plus a random jitter of up to
+/- JITTER/2, default 15 s, capped at INTERVAL/2) the Corefile is read and
parsed.  When the SHA512 of the parsed configuration differs from the running
one, the server reloads: the new configuration is set up while the old one
keeps serving, and only a complete success replaces it.  A file that does not
parse is logged and skipped; a reload that fails is logged and counted in
``coredns_reload_failed_total``, and the same broken file is not retried.

A small plugin: its options and its handler in one module.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import random
from collections.abc import Callable
from dataclasses import dataclass

from clusterdns.corefile import parse as parse_corefile
from clusterdns.corefile.files import glob_files, read_text
from clusterdns.corefile.model import Directive
from clusterdns.errors import ConfigError
from clusterdns.plugins.args import fail, no_block, parse_duration
from clusterdns.plugins.plugin import Host, Plugin
from clusterdns.plugins.reload.metrics import FAILED, VERSION_INFO
from clusterdns.tasks import cancel_and_wait

log = logging.getLogger("clusterdns.plugins.reload")

DEFAULT_INTERVAL = 30.0
DEFAULT_JITTER = 15.0
MIN_INTERVAL = 2.0
MIN_JITTER = 1.0


@dataclass(frozen=True, slots=True)
class ReloadOptions:
    interval: float = DEFAULT_INTERVAL
    #: the spread around ``interval``, at most half of it; 0: none
    jitter: float = DEFAULT_JITTER

    def poll_interval(self, uniform: Callable[[float, float], float] = random.uniform) -> float:
        """``interval`` plus a random jitter in [-jitter/2, +jitter/2], as CoreDNS draws it."""
        if not self.jitter:
            return self.interval
        return self.interval + uniform(-self.jitter / 2, self.jitter / 2)


def parse(directive: Directive) -> ReloadOptions:
    no_block(directive)
    args = directive.args
    if len(args) > 2:
        fail(directive, "reload takes at most INTERVAL and JITTER")
    interval = parse_duration(args[0], directive) if args else DEFAULT_INTERVAL
    if interval < MIN_INTERVAL:
        fail(directive, f"interval value must be greater or equal to {MIN_INTERVAL:g}s")
    jitter = parse_duration(args[1], directive) if len(args) > 1 else DEFAULT_JITTER
    if jitter and jitter < MIN_JITTER:
        fail(directive, f"jitter value must be 0 or greater or equal to {MIN_JITTER:g}s")
    return ReloadOptions(interval, min(jitter, interval / 2))


def digest(text: str, filename: str) -> str:
    """SHA512 of the parsed configuration: comments and layout do not count, as in CoreDNS.

    Parsed as the server parses it, imports and ``{$ENV}`` included, so a
    change in an imported file is a change of the configuration.
    """
    blocks = parse_corefile(text, filename, env=os.environ, read_file=read_text, glob=glob_files)
    canonical = repr([(block.keys, [_tokens(d) for d in block.directives]) for block in blocks])
    return hashlib.sha512(canonical.encode()).hexdigest()


def _tokens(directive: Directive) -> tuple[object, ...]:
    return (directive.name, directive.args, tuple(_tokens(d) for d in directive.block))


class Reload(Plugin):
    name = "reload"
    replies_outlive_reload = True
    handles_queries = False

    def __init__(self, opts: ReloadOptions, path: str, host: Host) -> None:
        self.interval = opts.poll_interval()
        self.path = path
        self.host = host
        self.running = ""
        self.reloading = False
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        try:
            self.running = digest(self.host.config_text, self.path)
        except ConfigError:
            self.running = ""
        log.info("[INFO] plugin/reload: Running configuration SHA512 = %s", self.running)
        if not os.path.isfile(self.path):
            return  # the embedded default has no file to watch
        self._task = asyncio.ensure_future(self._poll())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if not self.reloading:
            await cancel_and_wait(task)

    async def _poll(self) -> None:
        while self._task is not None:
            await asyncio.sleep(self.interval)
            if await self.check():
                return  # the new configuration runs its own reload plugin

    async def check(self) -> bool:
        """Read the Corefile once; reload when it changed. True when a new configuration runs."""
        try:
            with open(self.path, encoding="utf-8") as handle:
                text = handle.read()
            current = digest(text, self.path)
        except OSError as exc:
            log.warning("[WARNING] plugin/reload: cannot read %s: %s", self.path, exc.strerror)
            return False
        except ConfigError as exc:
            log.warning("[WARNING] plugin/reload: Corefile parse failed: %s", exc)
            return False
        if current == self.running:
            return False
        with contextlib.suppress(KeyError):
            VERSION_INFO.remove("sha512", self.running)
        self.running = current  # do not retry the same file, even when it is wrong
        self.reloading = True
        try:
            # Shielded: the reload stops this plugin, which must not cancel the reload itself.
            ok = await asyncio.shield(asyncio.ensure_future(self.host.reload(text)))
        finally:
            self.reloading = False
        VERSION_INFO.labels("sha512", current).set(1)
        if not ok:
            log.error("[ERROR] plugin/reload: Corefile changed but reload failed")
            FAILED.inc()
            return False
        return True
