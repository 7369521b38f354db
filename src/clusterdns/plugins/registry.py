"""The one ordered list of directives, as CoreDNS's ``plugin.cfg``.

A plugin's place in the chain comes from this list, never from where its
directive stands in the Corefile.  Each name is a folder
``clusterdns/plugins/<name>/`` whose ``setup.py`` exposes ``setup``.
CoreDNS's own order is kept for the directives we implement, so a Corefile
behaves the same under both servers.
"""

from __future__ import annotations

import importlib

from clusterdns import extras
from clusterdns.corefile.model import Directive
from clusterdns.errors import ConfigError
from clusterdns.plugins.plugin import Setup

ORDER: tuple[str, ...] = (
    "reload",
    "bind",
    "debug",
    "trace",
    "ready",
    "health",
    "prometheus",
    "errors",
    "log",
    "dump",  # external (miekg/dump); its place does not matter: it sees queries on arrival
    "dnstap",
    "searchwalk",  # clusterdns's search-path analytics (not in CoreDNS); a tap like dnstap
    "loadbalance",
    "rewrite",
    "cache",
    "autopath",
    "template",
    "hosts",
    "kubernetes",
    "file",
    "etcd",
    "loop",
    "forward",
    "whoami",
)

# Directives a Corefile may use only once per server block.  Not forward, whose
# stanzas chain (CoreDNS: `next RCODE` hands a query to the following forward),
# nor bind, log and dnstap, whose lines CoreDNS collects into one plugin (setup gets the
# plugin of the earlier lines as `SetupContext.previous`), nor rewrite, template and
# file, whose directives CoreDNS gathers into one ordered handler (here: one plugin per
# directive, chained in Corefile order).
SINGLETON = frozenset(ORDER) - {"forward", "bind", "log", "dnstap", "rewrite", "template", "file"}


def known(name: str) -> bool:
    return name in ORDER


def setup_function(name: str) -> Setup | None:
    """The ``setup`` of directive ``name``, or None when that plugin is not built here.

    Raises MissingExtra when the plugin needs an optional dependency that is not
    installed (checked before the import: some plugins import theirs lazily).
    """
    extra = extras.PLUGINS.get(name)
    if extra is not None:
        extras.require(extra)
    try:
        module = importlib.import_module(f"clusterdns.plugins.{name}.setup")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith(f"clusterdns.plugins.{name}"):
            return None
        missing = extras.extra_for(exc)
        if missing is None:
            raise
        raise extras.MissingExtra(missing, exc.name or "") from exc
    setup: Setup = module.setup
    return setup


def setup_for(directive: Directive) -> Setup:
    """The ``setup`` of ``directive``; a ConfigError at its file:line when it cannot be built."""
    try:
        setup = setup_function(directive.name)
    except extras.MissingExtra as exc:
        raise ConfigError(
            str(exc), file=directive.file, line=directive.line, plugin=directive.name
        ) from exc
    if setup is None:
        raise ConfigError(
            "this plugin is not built into clusterdns yet",
            file=directive.file,
            line=directive.line,
            plugin=directive.name,
        )
    return setup


def built(name: str) -> bool:
    """Whether directive ``name`` is built in and its optional dependencies are installed."""
    try:
        return setup_function(name) is not None
    except extras.MissingExtra:
        return False


def position(name: str) -> int:
    return ORDER.index(name)
