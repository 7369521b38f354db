"""The Corefile: lexer, parser and server keys, as plain frozen data (no I/O but ``load``)."""

from clusterdns.corefile.files import load
from clusterdns.corefile.keys import block_addresses, parse_server_key, reverse_zones
from clusterdns.corefile.model import CorefileError, Directive, ServerAddress, ServerBlock
from clusterdns.corefile.parser import parse
from clusterdns.corefile.text import to_text

__all__ = [
    "CorefileError",
    "Directive",
    "ServerAddress",
    "ServerBlock",
    "block_addresses",
    "load",
    "parse",
    "parse_server_key",
    "reverse_zones",
    "to_text",
]
