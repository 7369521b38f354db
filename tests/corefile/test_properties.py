"""Hypothesis: the parser fails only with CorefileError, and to_text round-trips."""

from __future__ import annotations

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from clusterdns.corefile import CorefileError, Directive, ServerBlock, parse, to_text
from clusterdns.corefile.lexer import tokenize
from clusterdns.corefile.text import quote

# Characters that matter to the lexer and parser, plus some that do not.
SPECIAL = list('{}"\\#\n\r\t ,()$%.:/*?[]') + ["import", "{$X}", "{env.X}", "(s)", "\u2028", "é"]
TEXT = (
    st.lists(st.sampled_from(SPECIAL) | st.text(alphabet="abx01", min_size=1, max_size=3)).map(
        "".join
    )
    | st.text()
)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(TEXT)
def test_lexer_fails_only_with_corefile_error(text: str) -> None:
    try:
        tokens = tokenize(text)
    except CorefileError as exc:
        assert "unterminated quoted string" in str(exc)
        return
    assert all(token.line >= 1 for token in tokens)


@SETTINGS
@given(TEXT)
def test_parser_fails_only_with_corefile_error(text: str) -> None:
    try:
        parse(text, env={"X": "a b"})
    except CorefileError as exc:
        assert str(exc).startswith("Corefile:")


WORD = st.text(alphabet='ab.:_-{}"\\# ,é\t', min_size=1, max_size=6)


def writable(word: str) -> bool:
    try:
        quote(word)
    except ValueError:
        return False
    return True


def directives(depth: int) -> st.SearchStrategy[Directive]:
    name = WORD.filter(lambda w: w != "import" and writable(w))
    args = st.lists(st.text(alphabet='ab.:{}" \\#', max_size=4).filter(writable), max_size=3)
    block = st.just(()) if depth == 0 else st.lists(directives(depth - 1), max_size=3).map(tuple)
    return st.builds(lambda n, a, b: Directive(n, tuple(a), b, "Corefile", 0), name, args, block)


KEY = WORD.filter(lambda w: writable(w) and not w.endswith((",", "{")))
BLOCKS = st.lists(
    st.builds(
        lambda keys, body: ServerBlock(tuple(keys), tuple(body), "Corefile", 0),
        st.lists(KEY, min_size=1, max_size=3),
        st.lists(directives(2), max_size=4),
    ),
    max_size=3,
)


def without_places(blocks: tuple[ServerBlock, ...] | list[ServerBlock]) -> list[object]:
    def directive(d: Directive) -> object:
        return (d.name, d.args, [directive(inner) for inner in d.block])

    return [(b.keys, [directive(d) for d in b.directives]) for b in blocks]


@settings(SETTINGS, max_examples=120)
@given(BLOCKS)
def test_to_text_round_trips(blocks: list[ServerBlock]) -> None:
    for block in blocks:
        single_snippet = len(block.keys) == 1 and block.keys[0].startswith("(")
        assume(not single_snippet and block.keys[0] != "import")
    assert without_places(parse(to_text(blocks))) == without_places(blocks)


def test_quote_examples() -> None:
    assert quote("plain") == "plain"
    assert quote("a b") == '"a b"'
    assert quote("{") == '"{"'
    assert quote("") == '""'
    assert quote('say "hi"') == '"say \\"hi\\""'
    assert quote('x"y') == 'x"y'
