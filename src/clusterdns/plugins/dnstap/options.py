"""``dnstap SOCKET [full] [writebuffer] [queue] { identity; version; extra; skipverify }``.

As CoreDNS's plugin/dnstap/setup.go: SOCKET is a path or ``unix://PATH`` (a
unix socket), ``tcp://HOST:PORT`` or ``tls://HOST:PORT``; ``full`` includes the
DNS messages; **writebuffer** is the TCP send buffer in MiB (1-1024) and
**queue** the queue size in units of 10 000 messages (1-4096).  Several
``dnstap`` lines in one block are one plugin with several outputs, as CoreDNS
taps to each of them.  No I/O here: the default identity (the host name) is
passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

from clusterdns import __version__
from clusterdns.corefile.model import Directive
from clusterdns.plugins.args import fail, parse_int

MAX_WRITE_BUFFER = 1024  # MiB
MAX_QUEUE = 4096  # x 10 000 messages
QUEUE_UNIT = 10_000


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the messages go: ``unix`` (path), ``tcp`` or ``tls`` (host, port)."""

    proto: str
    path: str = ""
    host: str = ""
    port: int = 0

    def __str__(self) -> str:
        if self.proto == "unix":
            return f"unix://{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.proto}://{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class DnstapConfig:
    endpoint: Endpoint
    full: bool = False
    write_buffer: int = 1  # MiB
    queue: int = 1  # x 10 000
    identity: bytes = b""
    version: bytes = b""
    extra: bytes = b""
    skip_verify: bool = False

    @property
    def capacity(self) -> int:
        return self.queue * QUEUE_UNIT


def parse_endpoint(text: str, directive: Directive) -> Endpoint:
    for proto in ("tcp", "tls"):
        if text.startswith(f"{proto}://"):
            hostport = text[len(proto) + 3 :]
            host, sep, port = hostport.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                fail(directive, f"invalid address {text!r}: use {proto}://HOST:PORT", "dnstap")
            return Endpoint(proto, host=host.strip("[]"), port=int(port))
    if "://" in text and not text.startswith("unix://"):
        fail(
            directive, f"unknown socket {text!r}: use PATH, unix://PATH, tcp:// or tls://", "dnstap"
        )
    path = text.removeprefix("unix://")
    if not path:
        fail(directive, "dnstap needs a socket path", "dnstap")
    return Endpoint("unix", path=path)


def parse(directive: Directive, hostname: str = "") -> DnstapConfig:
    """The directive as a config; ``hostname`` is the identity when none is given."""
    args = directive.args
    if not args:
        fail(
            directive,
            "dnstap needs a SOCKET: PATH, unix://PATH, tcp://HOST:PORT or tls://HOST:PORT",
        )
    if args[0] == "listen":
        fail(directive, "'dnstap listen' (sinks connecting to us) is not built into clusterdns yet")
    if len(args) > 4:
        fail(directive, f"unexpected argument {args[4]!r}")
    endpoint = parse_endpoint(args[0], directive)
    # CoreDNS: the second argument means full only when it is the word "full"; it is a
    # position, so "dnstap SOCK x 4 2" sets the buffer and queue without full.
    full = len(args) >= 2 and args[1] == "full"
    write_buffer = (
        parse_int(args[2], directive, 1, MAX_WRITE_BUFFER, "writebuffer") if len(args) >= 3 else 1
    )
    queue = parse_int(args[3], directive, 1, MAX_QUEUE, "queue") if len(args) >= 4 else 1
    identity = hostname.encode()
    version = f"clusterdns-{__version__}".encode()
    extra = b""
    skip_verify = False
    for option in directive.block:
        name, values = option.name, option.args
        if name in ("identity", "version", "extra"):
            if len(values) != 1:
                fail(option, f"{name} needs one argument", "dnstap")
            if name == "identity":
                identity = values[0].encode()
            elif name == "version":
                version = values[0].encode()
            else:
                extra = values[0].encode()
        elif name == "skipverify":
            if values:
                fail(option, "skipverify takes no arguments", "dnstap")
            skip_verify = True
        else:
            fail(option, f"unknown property '{name}'", "dnstap")
    return DnstapConfig(endpoint, full, write_buffer, queue, identity, version, extra, skip_verify)
