"""What a parsed Corefile is: server blocks of directives, and the zones a key names.

Plain frozen values and nothing else: the parser builds them, the server and the
plugins read them.
"""

from __future__ import annotations

from dataclasses import dataclass

from clusterdns.errors import ConfigError


class CorefileError(ConfigError):
    """The Corefile text is wrong; ``str()`` reads ``<file>:<line>: <what is wrong>``."""

    def __init__(self, message: str, *, file: str = "", line: int = 0) -> None:
        super().__init__(message, file=file, line=line)


@dataclass(frozen=True, slots=True)
class Directive:
    """One directive line; the lines of its ``{ }`` block are Directives too.

    ``name`` is the first token of the line, ``args`` the rest (quotes removed,
    environment references substituted); ``file`` and ``line`` say where the
    name was written (for an imported snippet or file: in the snippet or file).
    """

    name: str
    args: tuple[str, ...]
    block: tuple[Directive, ...]
    file: str
    line: int


@dataclass(frozen=True, slots=True)
class ServerBlock:
    """``key [key...] { directives }``: keys as written (after ``{$ENV}`` substitution)."""

    keys: tuple[str, ...]
    directives: tuple[Directive, ...]
    file: str
    line: int


@dataclass(frozen=True, slots=True)
class ServerAddress:
    """One zone a server key names, e.g. ``tls://example.org:853`` or one zone of a CIDR key.

    ``zone`` is absolute and lower-case (``example.org.``, ``.``); ``port`` is
    None when neither the key nor the caller's default gave one; ``key`` is the
    key as written in the Corefile.
    """

    scheme: str
    zone: str
    port: int | None
    key: str
