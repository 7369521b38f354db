"""Server blocks -> Corefile text that parses back to the same blocks."""

from __future__ import annotations

from collections.abc import Iterable

from clusterdns.corefile.lexer import Token, tokenize
from clusterdns.corefile.model import CorefileError, Directive, ServerBlock
from clusterdns.corefile.parser import substitute_env

_INDENT = "    "


def quote(text: str) -> str:
    """``text`` as one token: bare when it lexes back unchanged, else in double quotes.

    Raises ValueError for text no token can carry: an environment reference
    (it would be substituted) or backslashes the lexer would read as escapes.
    """
    if substitute_env(text, {}) != text:
        raise ValueError(f"{text!r} holds an environment reference")
    if _lexes_to(text, text, quoted=False):
        return text
    quoted = '"' + text.replace('"', '\\"') + '"'
    if _lexes_to(quoted, text, quoted=True):
        return quoted
    raise ValueError(f"{text!r} cannot be written as one Corefile token")


def _quote_key(key: str) -> str:
    bare = quote(key)
    # A bare key ending in '{' reads as a key glued to its brace, which is refused.
    if bare == key and key.endswith("{"):
        quoted = '"' + key.replace('"', '\\"') + '"'
        if not _lexes_to(quoted, key, quoted=True):
            raise ValueError(f"{key!r} cannot be written as a server key")
        return quoted
    return bare


def _lexes_to(source: str, text: str, *, quoted: bool) -> bool:
    if quoted is False and text in ("{", "}"):
        return False
    try:
        tokens = tokenize(source)
    except CorefileError:
        return False
    return tokens == [Token(text, "Corefile", 1, quoted)]


def _directive_lines(directive: Directive, depth: int) -> Iterable[str]:
    if directive.name == "import":
        raise ValueError("a directive named 'import' would be read as an import")
    words = " ".join(quote(word) for word in (directive.name, *directive.args))
    indent = _INDENT * depth
    if not directive.block:
        yield indent + words
        return
    yield f"{indent}{words} {{"
    for inner in directive.block:
        yield from _directive_lines(inner, depth + 1)
    yield indent + "}"


def _block_lines(block: ServerBlock) -> Iterable[str]:
    if not block.keys or any(key.endswith(",") or not key for key in block.keys):
        raise ValueError(f"keys {block.keys!r} cannot be written (empty or ending in ',')")
    if len(block.keys) == 1 and block.keys[0].startswith("(") and block.keys[0].endswith(")"):
        raise ValueError(f"key {block.keys[0]!r} would be read as a snippet")
    if block.keys[0] == "import":
        raise ValueError("a first key 'import' would be read as an import")
    yield " ".join(_quote_key(key) for key in block.keys) + " {"
    for directive in block.directives:
        yield from _directive_lines(directive, 1)
    yield "}"


def to_text(blocks: Iterable[ServerBlock]) -> str:
    """Corefile text for ``blocks`` (file and line are not kept, formatting is canonical)."""
    return "\n".join("\n".join(_block_lines(block)) + "\n" for block in blocks)
