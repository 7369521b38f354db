"""Corefile text -> tokens with line numbers (the Caddyfile lexer of coredns/caddy).

The rules, as coredns/caddy ``caddyfile/lexer.go`` applies them:

- tokens are separated by white space (Go's ``unicode.IsSpace``);
- ``#`` outside quotes starts a comment to the end of the line, even in the
  middle of a word (``foo#bar`` is the token ``foo``);
- a token that *starts* with ``"`` runs to the next unescaped ``"`` and may
  span lines; inside it only ``\\"`` is an escape, any other backslash is kept
  as written; a ``"`` inside a bare word is an ordinary character;
- a leading byte order mark is dropped; ``\\r`` outside quotes is white space.

One difference: an unterminated quoted string is an error here, where Caddy
silently makes the rest of the file one token.  There are no backquotes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from clusterdns.corefile.model import CorefileError

# Go's unicode.IsSpace: ASCII white space, NEL, NBSP and the Unicode White_Space
# characters (Python's \s would also take the \x1c-\x1f separators, Go does not).
_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"

_TOKEN_RE = re.compile(
    rf"""
    (?P<space>[{_SPACE}]+)
  | (?P<comment>\#[^\n]*)
  | (?P<quoted>"(?:[^"\\]|\\.)*")
  | (?P<unterminated>")
  | (?P<word>[^{_SPACE}\#"][^{_SPACE}\#]*)
    """,
    re.VERBOSE | re.DOTALL,
)

_ESCAPE_RE = re.compile(r"\\(.)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its text (quotes removed), where it starts, and whether it was quoted.

    A quoted ``"{"`` is text, not a brace (Caddy v1 does not tell them apart).
    """

    text: str
    file: str
    line: int
    quoted: bool = False

    @property
    def end_line(self) -> int:
        """The line the token ends on: a quoted token may span lines (Caddy's numLineBreaks)."""
        return self.line + self.text.count("\n")

    @property
    def is_open(self) -> bool:
        return self.text == "{" and not self.quoted

    @property
    def is_close(self) -> bool:
        return self.text == "}" and not self.quoted


def _unescape(body: str) -> str:
    # Only \" is an escape; "\x" keeps its backslash, "\\" stays two backslashes.
    return _ESCAPE_RE.sub(lambda m: m.group(1) if m.group(1) == '"' else m.group(0), body)


def tokenize(text: str, filename: str = "Corefile") -> list[Token]:
    """Split ``text`` into tokens; raise CorefileError for an unterminated quote."""
    if text.startswith("\ufeff"):
        text = text[1:]
    tokens: list[Token] = []
    line = 1
    for match in _TOKEN_RE.finditer(text):
        kind = match.lastgroup
        value = match.group()
        if kind == "word":
            tokens.append(Token(value, filename, line))
        elif kind == "quoted":
            tokens.append(Token(_unescape(value[1:-1]), filename, line, quoted=True))
        elif kind == "unterminated":
            raise CorefileError(
                'unterminated quoted string: add the closing "', file=filename, line=line
            )
        line += value.count("\n")
    return tokens
