"""The one ordered list of directives, as CoreDNS's ``plugin.cfg``.

A plugin's place in the chain comes from this list, never from where its
directive stands in the Corefile.  Each name is a folder
``clusterdns/plugins/<name>/`` whose ``setup.py`` exposes ``setup``.
CoreDNS's own order is kept for the directives we implement, so a Corefile
behaves the same under both servers.
"""

from __future__ import annotations

import importlib

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
    """The ``setup`` of directive ``name``, or None when that plugin is not built here."""
    try:
        module = importlib.import_module(f"clusterdns.plugins.{name}.setup")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith(f"clusterdns.plugins.{name}"):
            return None
        raise
    setup: Setup = module.setup
    return setup


def position(name: str) -> int:
    return ORDER.index(name)
