"""``etcd [ZONES...] { ... }``: SkyDNS records kept in etcd, followed by a watch (CoreDNS's etcd).

Importing this module imports grpcio and aetcd (through ``handler`` and
``clusterdns.cluster.etcd``): without the ``[etcd]`` extra it raises ImportError,
which the registry reports with the pip line.
"""

from __future__ import annotations

from clusterdns.cluster.etcd import read_tls
from clusterdns.corefile.model import Directive
from clusterdns.plugins.args import fail
from clusterdns.plugins.etcd.handler import Etcd
from clusterdns.plugins.etcd.options import PLUGIN, parse, tls_files
from clusterdns.plugins.plugin import Plugin, SetupContext


def check_tls(directive: Directive) -> None:
    """Certificates that cannot be read stop the server at start, naming their ``tls`` line.

    As CoreDNS's setup, which loads them into its TLS config (``tls.NewTLSConfigFromArgs``).
    """
    for option in directive.block:
        if option.name != "tls":
            continue
        try:
            read_tls(tls_files(option))
        except OSError as exc:
            fail(option, f"cannot read {exc.filename}: {exc.strerror}", PLUGIN)


def setup(directive: Directive, ctx: SetupContext) -> Plugin:
    opts = parse(directive, ctx.zones)
    check_tls(directive)
    return Etcd(opts)
