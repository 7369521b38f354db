"""Corefile syntax as CoreDNS's Caddyfile parser reads it: accepted shapes and refusals.

Facts from coredns/caddy caddyfile/lexer_test.go (TestLexer), parse_test.go
(TestParseOneAndImport, TestParseAll, TestEnvironmentReplacement,
TestSnippets, TestSnippetImportCycle, TestFileImportCycleError,
TestImportedFilesIgnoreNonDirectiveImportTokens, TestSnippetAcrossMultipleFiles),
dispenser.go (NextArg/isNewLine count a token's own line breaks) and
coredns/coredns corefile.5.md; coredns/coredns#7267 for a server block closed
on a directive's line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from clusterdns.corefile import CorefileError, load, parse
from clusterdns.corefile.lexer import tokenize

from .shapes import shape

# lexer_test.go TestLexer: input -> (line, text) of each token.
LEXER = [
    ("host:123", [(1, "host:123")]),
    ("host:123\n\n\t\t\t\tdirective", [(1, "host:123"), (3, "directive")]),
    ("host:123 {\n directive\n}", [(1, "host:123"), (1, "{"), (2, "directive"), (3, "}")]),
    ("host:123 { directive }", [(1, "host:123"), (1, "{"), (1, "directive"), (1, "}")]),
    (
        "host:123 {\n\n directive # comment\n # whole line\n foobar # another\n}",
        [(1, "host:123"), (1, "{"), (3, "directive"), (5, "foobar"), (6, "}")],
    ),
    ('a "quoted value" b\nfoobar', [(1, "a"), (1, "quoted value"), (1, "b"), (2, "foobar")]),
    ('A "quoted \\"value\\" inside" B', [(1, "A"), (1, 'quoted "value" inside'), (1, "B")]),
    ('"don\'t\\escape"', [(1, "don't\\escape")]),
    ('"don\'t\\\\escape"', [(1, "don't\\\\escape")]),
    (
        'A "quoted value with line\n\t\tbreak inside" {\n foobar\n}',
        [(1, "A"), (1, "quoted value with line\n\t\tbreak inside"), (2, "{"), (3, "foobar")]
        + [(4, "}")],
    ),
    ('"C:\\php\\php-cgi.exe"', [(1, "C:\\php\\php-cgi.exe")]),
    ('empty "" string', [(1, "empty"), (1, ""), (1, "string")]),
    ("skip those\r\nCR characters", [(1, "skip"), (1, "those"), (2, "CR"), (2, "characters")]),
    ("\ufeff:8080", [(1, ":8080")]),
    ("a b c\nd e", [(1, "a"), (1, "b"), (1, "c"), (2, "d"), (2, "e")]),  # TestAllTokens
    ("", []),
    ("\n", []),
    (" ", []),
    ("\t\n", []),
]


@pytest.mark.parametrize(("text", "expected"), LEXER)
def test_lexer(text: str, expected: list[tuple[int, str]]) -> None:
    assert [(token.line, token.text) for token in tokenize(text)] == expected


# parse_test.go TestParseOneAndImport and TestParseAll: text -> keys and directive shapes.
ACCEPTED = [
    ("localhost", [(["localhost"], [])]),
    ("localhost\n  dir1", [(["localhost"], [["dir1"]])]),
    ("localhost:1234\n  dir1 foo bar", [(["localhost:1234"], [["dir1", "foo", "bar"]])]),
    ("localhost {\n  dir1\n}", [(["localhost"], [["dir1"]])]),
    (
        "localhost:1234 {\n  dir1 foo bar\n  dir2\n}",
        [(["localhost:1234"], [["dir1", "foo", "bar"], ["dir2"]])],
    ),
    (
        "http://localhost https://localhost\n  dir1 foo bar",
        [(["http://localhost", "https://localhost"], [["dir1", "foo", "bar"]])],
    ),
    (
        "http://localhost, https://localhost {\n  dir1 foo bar\n}",
        [(["http://localhost", "https://localhost"], [["dir1", "foo", "bar"]])],
    ),
    (
        "host1:80, http://host2.com\n  dir1 foo bar\n  dir2 baz",
        [(["host1:80", "http://host2.com"], [["dir1", "foo", "bar"], ["dir2", "baz"]])],
    ),
    (
        "http://host1.com,\n  http://host2.com,\n  https://host3.com",
        [(["http://host1.com", "http://host2.com", "https://host3.com"], [])],
    ),
    (
        "http://host1.com:1234, https://host2.com\n  dir1 foo {\n    bar baz\n  }\n  dir2",
        [
            (
                ["http://host1.com:1234", "https://host2.com"],
                [["dir1", "foo", [["bar", "baz"]]], ["dir2"]],
            )
        ],
    ),
    (
        "127.0.0.1\n  dir1 {\n    bar baz\n  }\n  dir2 {\n    foo bar\n  }",
        [(["127.0.0.1"], [["dir1", [["bar", "baz"]]], ["dir2", [["foo", "bar"]]]])],
    ),
    ("localhost\n  dir1 {\n  }", [(["localhost"], [["dir1"]])]),
    (
        "localhost\n  dir1 {\n    nested {\n      foo\n    }\n  }\n  dir2 foo bar",
        [(["localhost"], [["dir1", [["nested", [["foo"]]]]], ["dir2", "foo", "bar"]])],
    ),
    ("", []),
    (
        "localhost:1234 {\n}\nlocalhost:2015 {\n}",
        [(["localhost:1234"], []), (["localhost:2015"], [])],
    ),
    ("localhost:1234, http://host2", [(["localhost:1234", "http://host2"], [])]),
    # A plugin block may close on its own line's end ("x { y }"): only the
    # server block's brace must not share a directive's line.
    (". {\n  dir1 { foo }\n}", [(["."], [["dir1", [["foo"]]]])]),
    # dispenser.go: a quoted token's line breaks count, so "b" is still on its line.
    ('. {\n  dir1 "a\nb" c\n  dir2\n}', [(["."], [["dir1", "a\nb", "c"], ["dir2"]])]),
    # No line continuation: a backslash is a word like any other.
    (". {\n  dir1 \\\n  dir2\n}", [(["."], [["dir1", "\\"], ["dir2"]])]),
]


@pytest.mark.parametrize(("text", "expected"), ACCEPTED)
def test_accepted(text: str, expected: list[object]) -> None:
    assert shape(parse(text)) == expected


# parse_test.go: inputs that must fail, with where our message says it failed.
REFUSED = [
    ("http://localhost, {\n}", "Corefile:1:"),
    ("localhost\n  dir1 {\n    foo", "Corefile:2:"),
    ("localhost\n  dir1 {\n  } }", "Corefile:3:"),
    ("localhost:1234, http://host2,", "Corefile:1:"),
    ('import }{$"', "Corefile:1:"),
    ("import a b", "Corefile:1:"),
    ("import", "Corefile:1:"),
    ("(loop) {\n  import loop\n}\nimport loop", "Corefile:2:"),  # TestSnippetImportCycle
    ("(s) {\n  dir1\n}\n(s) {\n  dir2\n}", "Corefile:4:"),  # redeclared snippet
    # coredns/coredns#7267: "Unexpected '}' because no matching opening brace".
    (". { whoami }", "Corefile:1:"),
    (". {\n  bind 127.0.0.1 }", "Corefile:2:"),
    (". {\n  dir1 {\n    foo\n  } }", "Corefile:4:"),
]


@pytest.mark.parametrize(("text", "where"), REFUSED)
def test_refused(text: str, where: str) -> None:
    with pytest.raises(CorefileError) as info:
        parse(text)
    assert str(info.value).startswith(where)


ENV = {"PORT": "8080", "ADDRESS": "servername.com", "FOOBAR": "foobar", "PARTIAL_DIR": "r1"}

# parse_test.go TestEnvironmentReplacement: text -> keys and directives after substitution.
ENVIRONMENT = [
    ("{$ADDRESS}", [(["servername.com"], [])]),
    ("di{$PARTIAL_DIR}", [(["dir1"], [])]),
    ("{$ADDRESS}:{$PORT}", [(["servername.com:8080"], [])]),
    ("{%ADDRESS%}:{$PORT}", [(["servername.com:8080"], [])]),
    ("{$ADDRESS}:{%PORT%}", [(["servername.com:8080"], [])]),
    (":{%PORT%}\ndir1 {$FOOBAR}", [([":8080"], [["dir1", "foobar"]])]),
    (":{%PORT%}\ndir1 {%ADDRESS%}/{%FOOBAR%}", [([":8080"], [["dir1", "servername.com/foobar"]])]),
    (":1234\ndir1 {%ADDRESS}", [([":1234"], [["dir1", "{%ADDRESS}"]])]),  # malformed: kept
    (":{$PORT$}", [([":"], [])]),  # an unset variable is empty
    (':1234\ndir1 "Test {$FOOBAR} test"', [([":1234"], [["dir1", "Test foobar test"]])]),
    (
        ':1234\nanswer "{{ .Name }} {$FOOBAR}"',
        [([":1234"], [["answer", "{{ .Name }} foobar"]])],
    ),
]


@pytest.mark.parametrize(("text", "expected"), ENVIRONMENT)
def test_environment_replacement(text: str, expected: list[object]) -> None:
    assert shape(parse(text, env=ENV)) == expected


def test_snippets() -> None:
    # parse_test.go TestSnippets; corefile.5 "Snippets".
    text = "(common) {\n  gzip foo\n  errors stderr\n}\nhttp://example.com {\n  import common\n}\n"
    assert shape(parse(text)) == [(["http://example.com"], [["gzip", "foo"], ["errors", "stderr"]])]


def test_import_as_an_argument_is_a_word(tmp_path: Path) -> None:
    # TestImportedFilesIgnoreNonDirectiveImportTokens.
    (tmp_path / "site").write_text(
        "http://example.com {\n  # 'import' below is an argument\n  basicauth / import password\n}\n"
    )
    (tmp_path / "Corefile").write_text(f"import {tmp_path / 'site'}\n")
    blocks = load(str(tmp_path / "Corefile"), {})
    assert shape(blocks) == [(["http://example.com"], [["basicauth", "/", "import", "password"]])]


def test_snippet_used_in_another_file(tmp_path: Path) -> None:
    # TestSnippetAcrossMultipleFiles.
    (tmp_path / "site").write_text("http://example.com {\n  import common\n}\n")
    (tmp_path / "Corefile").write_text("(common) {\n  gzip foo\n}\nimport site\n")
    blocks = load(str(tmp_path / "Corefile"), {})
    assert shape(blocks) == [(["http://example.com"], [["gzip", "foo"]])]


def test_import_globs_and_missing_files(tmp_path: Path) -> None:
    # TestParseAll: a glob matching nothing is fine, a named file that is missing is not.
    files = (
        "glob0.host0 {\n  dir2 arg1\n}\n\nglob0.host1 {\n}\n",
        "glob1.host0 {\n  dir1\n  dir2 arg1\n}\n",
        "glob2.host0 {\n  dir2 arg1\n}\n",
    )
    for index, text in enumerate(files):
        (tmp_path / f"import_glob{index}.txt").write_text(text)
    (tmp_path / "Corefile").write_text("import import_glob*.txt\n")
    blocks = load(str(tmp_path / "Corefile"), {})
    assert [b.keys for b in blocks] == [
        ("glob0.host0",),
        ("glob0.host1",),
        ("glob1.host0",),
        ("glob2.host0",),
    ]
    (tmp_path / "Corefile").write_text("import notfound/*\n")
    assert load(str(tmp_path / "Corefile"), {}) == ()
    (tmp_path / "Corefile").write_text("import notfound/file.conf\n")
    with pytest.raises(CorefileError, match="Corefile:1:"):
        load(str(tmp_path / "Corefile"), {})


@pytest.mark.parametrize("pattern", ["/*/*.txt", "/???/?*?o", "/[a-z]"])
def test_import_globs_with_many_wildcards_are_refused(tmp_path: Path, pattern: str) -> None:
    # TestParseOneAndImport (found by fuzzing): one * or ? at most, no [...] classes.
    (tmp_path / "Corefile").write_text(f"import {pattern}\n")
    with pytest.raises(CorefileError, match="Corefile:1:"):
        load(str(tmp_path / "Corefile"), {})


def test_file_import_cycle_is_refused(tmp_path: Path) -> None:
    # TestFileImportCycleError.
    (tmp_path / "a").write_text(f"import {tmp_path / 'b'}\n")
    (tmp_path / "b").write_text(f"import {tmp_path / 'a'}\n")
    (tmp_path / "Corefile").write_text(f"import {tmp_path / 'a'}\n")
    with pytest.raises(CorefileError, match="import cycle"):
        load(str(tmp_path / "Corefile"), {})


def test_directive_import_inside_a_plugin_block(tmp_path: Path) -> None:
    # TestDirectiveImport: the imported lines land in the block; a missing file fails.
    (tmp_path / "directive_import_test").write_text("prop1 1\nprop2 2\n")
    text = "localhost\ndir1\nproxy {\n  import directive_import_test\n  transparent\n}\n"
    (tmp_path / "Corefile").write_text(text)
    blocks = load(str(tmp_path / "Corefile"), {})
    assert shape(blocks) == [
        (["localhost"], [["dir1"], ["proxy", [["prop1", "1"], ["prop2", "2"], ["transparent"]]]])
    ]
    (tmp_path / "Corefile").write_text(text.replace("directive_import_test", "nonexistent"))
    with pytest.raises(CorefileError, match="Corefile:4:"):
        load(str(tmp_path / "Corefile"), {})
