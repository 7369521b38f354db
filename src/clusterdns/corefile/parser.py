"""Corefile tokens -> server blocks of directives (the Caddyfile grammar CoreDNS uses).

No I/O here: ``import`` of files goes through the ``read_file`` and ``glob``
callables, environment references read the ``env`` mapping.

Grammar (coredns/caddy ``caddyfile/parse.go``)::

    corefile  = { import-line | snippet | server-block }
    snippet   = "(" name ")" "{" tokens "}"            defined before use
    server    = key { key } ( "{" lines "}" | lines-to-end-of-file )
    lines     = { import-line | directive }
    directive = name { arg } [ "{" lines "}" ]        args end at the line's end

Keys are separated by spaces; a key ending in ``,`` continues the list, also on
the next line.  A ``{`` opens the block of the line before it even when it
stands on a line of its own.  Lines are told apart as Caddy's dispenser does:
a token continues the line its predecessor *ends* on (a quoted token may span
lines), and a server block's ``}`` may not share a directive's line.  A server block without braces runs to the end
of its file, so it can only be the last (in practice the only) block.

``import PATTERN`` replaces its line with a snippet's lines, or with the
contents of the files PATTERN names (relative to the importing file; one
``*`` or ``?`` wildcard at most, as CoreDNS allows).  A glob that matches
nothing is not an error (CoreDNS logs a warning and carries on; ``warn`` gets
the message); a named file that is missing is.
"""

from __future__ import annotations

import os.path
import re
from collections.abc import Callable, Mapping
from typing import TypeVar

from clusterdns.corefile.lexer import Token, tokenize
from clusterdns.corefile.model import CorefileError, Directive, ServerBlock

ReadFile = Callable[[str], str]
Glob = Callable[[str], list[str]]
Warn = Callable[[str], None]
T = TypeVar("T")

# CoreDNS's import plugin allows at most 10000 import statements per Corefile.
MAX_IMPORTS = 10000
# Blocks and imports nested deeper than this are refused (the parser recurses).
MAX_NESTING = 100

# {$VAR} and {%VAR%} are CoreDNS's forms (corefile.5); {env.VAR} is Caddy 2's spelling.
_ENV_RE = re.compile(r"\{\$([^}]+)\}|\{%(.+?)%\}|\{env\.([^}]+)\}", re.DOTALL)


def substitute_env(text: str, env: Mapping[str, str]) -> str:
    """Replace ``{$VAR}``, ``{%VAR%}`` and ``{env.VAR}``; an unset variable becomes ''."""
    if "{" not in text:
        return text
    return _ENV_RE.sub(lambda m: env.get(m.group(m.lastindex or 0), ""), text)


def _show(token: Token) -> str:
    return f'"{token.text}"' if token.quoted else f"'{token.text}'"


def _error(token: Token, message: str) -> CorefileError:
    return CorefileError(message, file=token.file, line=token.line)


class _Stream:
    """The tokens of one file or snippet, read front to back."""

    __slots__ = ("tokens", "pos")

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def on_same_line(self, previous: Token) -> Token | None:
        """The next token if it starts on the line ``previous`` ends on (Caddy's NextArg)."""
        token = self.peek()
        if token is None or token.line != previous.end_line or token.file != previous.file:
            return None
        return token


class _Parser:
    def __init__(
        self,
        env: Mapping[str, str],
        read_file: ReadFile | None,
        glob: Glob | None,
        warn: Warn | None,
    ) -> None:
        self.env = env
        self.read_file = read_file
        self.glob = glob
        self.warn = warn
        self.snippets: dict[str, list[Token]] = {}
        self.imports = 0
        # What is being imported right now, outermost first, to name a cycle.
        self.active: list[str] = []

    # -- top level: server blocks, snippets, imports ------------------------------

    def server_blocks(self, stream: _Stream, depth: int) -> list[ServerBlock]:
        blocks: list[ServerBlock] = []
        while (token := stream.peek()) is not None:
            if token.is_close:
                raise _error(token, "unexpected '}': no block is open here")
            if token.is_open:
                raise _error(token, "unexpected '{': a server block needs keys (zones) before it")
            if token.text == "import":
                blocks.extend(self.expand_import(stream, depth, self.server_blocks))
                continue
            block = self.server_block(stream, depth)
            if block is not None:
                blocks.append(block)
        return blocks

    def server_block(self, stream: _Stream, depth: int) -> ServerBlock | None:
        first = stream.peek()
        assert first is not None
        keys = self.keys(stream)
        opener = stream.peek()
        if len(keys) == 1 and keys[0].startswith("(") and keys[0].endswith(")"):
            self.define_snippet(keys[0][1:-1], first, stream)
            return None
        if not keys:
            raise _error(first, "server block has no keys: write a zone such as . or example.org")
        if opener is not None and opener.is_open:
            stream.take()
            directives = self.lines(stream, depth + 1, opener, top=True)
        else:
            directives = self.lines(stream, depth + 1, None, braceless=first, top=True)
        return ServerBlock(tuple(keys), tuple(directives), first.file, first.line)

    def keys(self, stream: _Stream) -> list[str]:
        """Read ``key key,`` up to ``{`` or the end of the line (a trailing comma goes on)."""
        keys: list[str] = []
        token = stream.take()
        while True:
            if token.is_open:
                raise _error(token, "expected another server key after ',' but found '{'")
            if token.is_close:
                raise _error(token, "unexpected '}' among server keys")
            if not token.quoted and len(token.text) > 1 and token.text.endswith("{"):
                raise _error(token, f"{_show(token)}: put a space before '{{'")
            key = substitute_env(token.text, self.env)
            more = key.endswith(",")
            if more:
                key = key[:-1]
            if key:
                keys.append(key)
            following = stream.peek()
            if following is None:
                if more:
                    raise _error(token, "expected another server key after ',' but the file ended")
                return keys
            if following.is_open and not more:
                return keys
            if not more and (following.line != token.end_line or following.file != token.file):
                return keys
            token = stream.take()

    def define_snippet(self, name: str, first: Token, stream: _Stream) -> None:
        opener = stream.peek()
        if opener is None or not opener.is_open:
            raise _error(first, f"snippet ({name}) needs a {{ }} block after its name")
        if not name:
            raise _error(first, "snippet needs a name between the parentheses")
        if name in self.snippets:
            raise _error(first, f"snippet ({name}) is already defined")
        stream.take()
        body: list[Token] = []
        nesting = 1
        while (token := stream.peek()) is not None:
            stream.take()
            if token.is_open:
                nesting += 1
            elif token.is_close:
                nesting -= 1
                if nesting == 0:
                    self.snippets[name] = body
                    return
            body.append(token)
        raise _error(opener, "unclosed block opened here: add the matching '}'")

    # -- inside blocks: directive lines ----------------------------------------------

    def lines(
        self,
        stream: _Stream,
        depth: int,
        opener: Token | None,
        braceless: Token | None = None,
        *,
        top: bool = False,
    ) -> list[Directive]:
        """Directive lines up to the ``}`` matching ``opener`` (None: to the stream's end).

        ``top`` says these are the lines of a server block, not of a plugin's block.
        """
        directives: list[Directive] = []
        while (token := stream.peek()) is not None:
            if token.is_close:
                if opener is None:
                    raise _error(token, "unexpected '}': no block is open here")
                stream.take()
                return directives
            if token.is_open:
                raise _error(token, "unexpected '{': a block must follow a directive")
            if token.text == "import":
                in_place = self.server_lines if top else self.nested_lines
                directives.extend(self.expand_import(stream, depth, in_place))
                continue
            directives.append(self.directive(stream, depth, braceless, top))
        if opener is not None:
            raise _error(opener, "unclosed block opened here: add the matching '}'")
        return directives

    def nested_lines(self, stream: _Stream, depth: int) -> list[Directive]:
        return self.lines(stream, depth, None)

    def server_lines(self, stream: _Stream, depth: int) -> list[Directive]:
        return self.lines(stream, depth, None, top=True)

    def directive(
        self, stream: _Stream, depth: int, braceless: Token | None, top: bool = False
    ) -> Directive:
        first = stream.take()
        name = substitute_env(first.text, self.env)
        if not name:
            raise _error(first, f"empty directive name (from {_show(first)})")
        args: list[str] = []
        last = first
        while (token := stream.on_same_line(last)) is not None and not (
            token.is_open or token.is_close
        ):
            args.append(substitute_env(stream.take().text, self.env))
            last = token
        if top:
            _refuse_close_on_line(stream, last)
        block: list[Directive] = []
        opener = stream.peek()
        if opener is not None and opener.is_open:
            if braceless is not None and _looks_like_server_key(name):
                raise _error(
                    first,
                    f"server block {_show(first)} follows a block without braces "
                    f"(keys at line {braceless.line}: {_show(braceless)}); "
                    "put each server block's directives in { }",
                )
            if depth >= MAX_NESTING:
                raise _error(opener, f"blocks and imports nested more than {MAX_NESTING} deep")
            stream.take()
            block = self.lines(stream, depth + 1, opener)
            closer = stream.tokens[stream.pos - 1]
            after = stream.on_same_line(closer)
            if after is not None and not after.is_close:
                raise _error(after, f"unexpected {_show(after)} after '}}': start a new line")
            if top:
                _refuse_close_on_line(stream, closer)
        return Directive(name, tuple(args), tuple(block), first.file, first.line)

    # -- import --------------------------------------------------------------------

    def expand_import(
        self,
        stream: _Stream,
        depth: int,
        parse_in_place: Callable[[_Stream, int], list[T]],
    ) -> list[T]:
        """Parse what ``import PATTERN`` names in the place of the import line."""
        keyword = stream.take()
        args: list[Token] = []
        last = keyword
        while (token := stream.on_same_line(last)) is not None and not token.is_close:
            if token.is_open:
                raise _error(token, "import takes no { } block")
            args.append(stream.take())
            last = token
        if len(args) != 1:
            raise _error(
                keyword,
                f"import takes one argument (a snippet name, file or glob), got {len(args)}",
            )
        pattern = substitute_env(args[0].text, self.env)
        if not pattern:
            raise _error(keyword, f"import of an empty name (from {_show(args[0])})")
        if depth >= MAX_NESTING:
            raise _error(keyword, f"blocks and imports nested more than {MAX_NESTING} deep")
        self.imports += 1
        if self.imports > MAX_IMPORTS:
            raise _error(keyword, f"more than {MAX_IMPORTS} imports: is there an import loop?")
        results: list[T] = []
        for source, tokens in self.import_sources(keyword, pattern):
            if source in self.active:
                chain = " -> ".join([*self.active[self.active.index(source) :], source])
                raise _error(keyword, f"import cycle: {chain}")
            self.active.append(source)
            results.extend(parse_in_place(_Stream(tokens), depth + 1))
            self.active.pop()
        return results

    def import_sources(self, keyword: Token, pattern: str) -> list[tuple[str, list[Token]]]:
        """(name for cycle reports, tokens) of each snippet or file ``pattern`` names."""
        if pattern in self.snippets:
            return [(f"({pattern})", self.snippets[pattern])]
        if self.read_file is None and _is_glob(pattern):
            raise _error(keyword, f'import "{pattern}": file imports are not available here')
        if self.read_file is None:
            raise _error(
                keyword,
                f'import "{pattern}": unknown snippet; define ({pattern}) {{ ... }} above the import',
            )
        path = pattern
        if not os.path.isabs(path):
            path = os.path.join(os.path.dirname(keyword.file), path)
        path = os.path.normpath(path)
        if not _is_glob(path):
            return [(path, self.file_tokens(keyword, pattern, path))]
        # CoreDNS refuses patterns with many wildcards (coredns/caddy parse.go, Caddy #2096).
        if path.count("*") > 1 or path.count("?") > 1 or ("[" in path and "]" in path):
            raise _error(keyword, f'import "{pattern}": a glob may hold only one * or ? wildcard')
        if self.glob is None:
            raise _error(keyword, f'import "{pattern}": file globs are not available here')
        matches = sorted(self.glob(path))
        if not matches and self.warn is not None:
            self.warn(f"{keyword.file}:{keyword.line}: import: no files match {pattern!r}")
        return [(match, self.file_tokens(keyword, pattern, match)) for match in matches]

    def file_tokens(self, keyword: Token, pattern: str, path: str) -> list[Token]:
        assert self.read_file is not None
        if path in self.active:
            return []  # expand_import reports the cycle with the whole chain
        try:
            text = self.read_file(path)
        except FileNotFoundError:
            raise _error(
                keyword, f'import "{pattern}": no snippet by that name and no file {path}'
            ) from None
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise _error(keyword, f'import "{pattern}": cannot read {path}: {reason}') from None
        return tokenize(text, path)


def _refuse_close_on_line(stream: _Stream, last: Token) -> None:
    """A server block's ``}`` on a directive's line is an error, as in CoreDNS.

    The Corefile is line oriented: a directive takes the rest of its line, so
    CoreDNS (coredns/caddy ``parse.go`` directive()) refuses ``. { whoami }``
    with "Unexpected '}' because no matching opening brace".
    """
    after = stream.on_same_line(last)
    if after is not None and after.is_close:
        raise _error(
            after,
            "unexpected '}' on a directive's line: put the '}' that closes "
            "the server block on a line of its own",
        )


def _is_glob(path: str) -> bool:
    return any(ch in path for ch in "*?[]")


def _looks_like_server_key(name: str) -> bool:
    # Directive names are plain words (errors, forward, k8s_external); zones,
    # ports, CIDRs and snippet names are not, so "example.org {" after a block
    # without braces is a misplaced server block, not a directive.
    return any(ch in name for ch in ".:/()")


def parse(
    text: str,
    filename: str = "Corefile",
    *,
    env: Mapping[str, str] | None = None,
    read_file: ReadFile | None = None,
    glob: Glob | None = None,
    warn: Warn | None = None,
) -> tuple[ServerBlock, ...]:
    """Parse Corefile ``text`` into its server blocks.

    ``env`` supplies ``{$VAR}`` values (None: every variable is unset, so '').
    ``read_file(path)`` returns a file's text for ``import`` (raising OSError);
    ``glob(pattern)`` lists the paths a wildcard pattern matches.  Without
    them only snippets can be imported.  ``warn`` receives non-fatal notes
    (an import glob that matches nothing).  Raises CorefileError.
    """
    parser = _Parser(env if env is not None else {}, read_file, glob, warn)
    parser.active.append(os.path.normpath(filename))
    return tuple(parser.server_blocks(_Stream(tokenize(text, filename)), 0))
